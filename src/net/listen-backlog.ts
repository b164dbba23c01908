/**
 * Connections the kernel may hold for an HTTP server before it accepts them (capped by
 * net.core.somaxconn). With Node's default of 511 the queue overflowed under the benches' load
 * (`netstat -s`: 93,051 "times the listen queue of a socket overflowed" over a day of bench runs);
 * the kernel drops the SYNs of an overflow, and clients retry after seconds or give up.
 */
export const LISTEN_BACKLOG = 4096;
