/* timer.h - monotonic wall-clock time in milliseconds, for progress lines and the profiler. */
#ifndef SEGC_CORE_TIMER_H
#define SEGC_CORE_TIMER_H

double segc_time_ms(void);

#endif
