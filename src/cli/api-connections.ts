/** The API's database connections, in `omega serve` and `omega start` (all opened at start, warmed, and kept). */
export const API_CONNECTIONS = 20;
