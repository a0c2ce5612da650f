/* profile_state.c — the heap profiler's one process-wide record (profile.h), apart from the
 * files that use it so that none of them has to call another back: profile.c (the hooks, the
 * thread) writes through profile_write.c, which reads the timeline of profile_timeline.c. */
#include "profile.h"

/* owner 1: the first thread heap's serial (the main thread's, as a rule) */
hk_profile_t hk_profile = {
    .sites_lock = PTHREAD_MUTEX_INITIALIZER, .lock = PTHREAD_MUTEX_INITIALIZER, .statm_fd = -1, .owner = 1};

HK_LOCK(profile, HK_LOCK_PROFILE, &hk_profile.lock);
HK_LOCK(profile_sites, HK_LOCK_PROFILE, &hk_profile.sites_lock);
