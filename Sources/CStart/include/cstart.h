#ifndef CSTART_H
#define CSTART_H

/// Why the process was started again before any library ran (`start.c`): 0 not restarted,
/// 1 an address-space limit (`ulimit -v`), 2 little room for threads (`ulimit -u`, a pids
/// cgroup). Read from the marker the restart leaves in the environment.
int cs_restart_reason(void);

#endif
