/**
 * Connections the kernel may hold for an HTTP server before it accepts them (capped by
 * net.core.somaxconn). With Node's default of 511, the bursts of new connections of the 1,000
 * jobs/s latency runs overflowed the queue (`netstat -s`: 93,051 "times the listen queue of a
 * socket overflowed" over a day of bench runs); the kernel dropped those SYNs and clients retried
 * after 1, 3, 7 s or gave up.
 */
export const LISTEN_BACKLOG = 4096;
