/* clock.h - the one place that reads the clocks.
 *
 * Deadlines and durations use the monotonic clock (immune to NTP steps);
 * only values that leave the process (stored-at times in entries, log
 * timestamps) use wall time. */
#ifndef NC_CLOCK_H
#define NC_CLOCK_H

#include <stdint.h>

/* Monotonic clock, milliseconds and microseconds. */
int64_t nc_now_ms(void);
int64_t nc_now_us(void);
/* Wall clock (CLOCK_REALTIME), milliseconds since the Unix epoch. */
int64_t nc_wall_ms(void);

#endif
