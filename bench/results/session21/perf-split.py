import re,collections,sys
stacks=open(sys.argv[1]).read().split('\n\n')
parsed=[]
for s in stacks:
    lines=s.strip().split('\n')
    fr=[re.sub(r'\+0x[0-9a-f]+$','',l.split()[1]) for l in lines[1:] if len(l.split())>1]
    parsed.append(fr)
def kind(fr):
    if 'CommitTransaction' in fr: return 'txcommit'
    if 'ExecMergeJoin' in fr: return 'lease'
    if 'plpgsql_exec_function' in fr: return 'commit'
    return 'other'
groups=collections.defaultdict(list)
for fr in parsed: groups[kind(fr)].append(fr)
for k,v in groups.items(): print(k,len(v))
com=groups['commit']
inc=collections.Counter(); self_=collections.Counter()
for fr in com:
    for f in set(fr): inc[f]+=1
    if fr: self_[fr[0]]+=1
N=len(com)
print("inclusive in commit:")
for f in sys.argv[2:]: print(f"  {f}: {100*inc[f]/N:.1f}%")
print("top self:")
for f,v in self_.most_common(25): print(f"  {f}: {100*v/N:.1f}%")
