//! x86_64 Linux system call numbers: the name of every number 0..=462 (from
//! arch/x86/entry/syscalls/syscall_64.tbl; numbers with no call are `None`),
//! strace's classes of calls (`%file`, `%network`, ...), and the sets that
//! `kiln run --trace=SET` names, parsed the same way on the host and in the
//! kernel.

use alloc::string::String;

/// Highest syscall number known to this table.
pub const MAX_NR: usize = 462;

/// `NAMES[nr]` is the Linux name of syscall `nr`, if it has one.
pub static NAMES: [Option<&str>; MAX_NR + 1] = [
    Some("read"),                    // 0
    Some("write"),                   // 1
    Some("open"),                    // 2
    Some("close"),                   // 3
    Some("stat"),                    // 4
    Some("fstat"),                   // 5
    Some("lstat"),                   // 6
    Some("poll"),                    // 7
    Some("lseek"),                   // 8
    Some("mmap"),                    // 9
    Some("mprotect"),                // 10
    Some("munmap"),                  // 11
    Some("brk"),                     // 12
    Some("rt_sigaction"),            // 13
    Some("rt_sigprocmask"),          // 14
    Some("rt_sigreturn"),            // 15
    Some("ioctl"),                   // 16
    Some("pread64"),                 // 17
    Some("pwrite64"),                // 18
    Some("readv"),                   // 19
    Some("writev"),                  // 20
    Some("access"),                  // 21
    Some("pipe"),                    // 22
    Some("select"),                  // 23
    Some("sched_yield"),             // 24
    Some("mremap"),                  // 25
    Some("msync"),                   // 26
    Some("mincore"),                 // 27
    Some("madvise"),                 // 28
    Some("shmget"),                  // 29
    Some("shmat"),                   // 30
    Some("shmctl"),                  // 31
    Some("dup"),                     // 32
    Some("dup2"),                    // 33
    Some("pause"),                   // 34
    Some("nanosleep"),               // 35
    Some("getitimer"),               // 36
    Some("alarm"),                   // 37
    Some("setitimer"),               // 38
    Some("getpid"),                  // 39
    Some("sendfile"),                // 40
    Some("socket"),                  // 41
    Some("connect"),                 // 42
    Some("accept"),                  // 43
    Some("sendto"),                  // 44
    Some("recvfrom"),                // 45
    Some("sendmsg"),                 // 46
    Some("recvmsg"),                 // 47
    Some("shutdown"),                // 48
    Some("bind"),                    // 49
    Some("listen"),                  // 50
    Some("getsockname"),             // 51
    Some("getpeername"),             // 52
    Some("socketpair"),              // 53
    Some("setsockopt"),              // 54
    Some("getsockopt"),              // 55
    Some("clone"),                   // 56
    Some("fork"),                    // 57
    Some("vfork"),                   // 58
    Some("execve"),                  // 59
    Some("exit"),                    // 60
    Some("wait4"),                   // 61
    Some("kill"),                    // 62
    Some("uname"),                   // 63
    Some("semget"),                  // 64
    Some("semop"),                   // 65
    Some("semctl"),                  // 66
    Some("shmdt"),                   // 67
    Some("msgget"),                  // 68
    Some("msgsnd"),                  // 69
    Some("msgrcv"),                  // 70
    Some("msgctl"),                  // 71
    Some("fcntl"),                   // 72
    Some("flock"),                   // 73
    Some("fsync"),                   // 74
    Some("fdatasync"),               // 75
    Some("truncate"),                // 76
    Some("ftruncate"),               // 77
    Some("getdents"),                // 78
    Some("getcwd"),                  // 79
    Some("chdir"),                   // 80
    Some("fchdir"),                  // 81
    Some("rename"),                  // 82
    Some("mkdir"),                   // 83
    Some("rmdir"),                   // 84
    Some("creat"),                   // 85
    Some("link"),                    // 86
    Some("unlink"),                  // 87
    Some("symlink"),                 // 88
    Some("readlink"),                // 89
    Some("chmod"),                   // 90
    Some("fchmod"),                  // 91
    Some("chown"),                   // 92
    Some("fchown"),                  // 93
    Some("lchown"),                  // 94
    Some("umask"),                   // 95
    Some("gettimeofday"),            // 96
    Some("getrlimit"),               // 97
    Some("getrusage"),               // 98
    Some("sysinfo"),                 // 99
    Some("times"),                   // 100
    Some("ptrace"),                  // 101
    Some("getuid"),                  // 102
    Some("syslog"),                  // 103
    Some("getgid"),                  // 104
    Some("setuid"),                  // 105
    Some("setgid"),                  // 106
    Some("geteuid"),                 // 107
    Some("getegid"),                 // 108
    Some("setpgid"),                 // 109
    Some("getppid"),                 // 110
    Some("getpgrp"),                 // 111
    Some("setsid"),                  // 112
    Some("setreuid"),                // 113
    Some("setregid"),                // 114
    Some("getgroups"),               // 115
    Some("setgroups"),               // 116
    Some("setresuid"),               // 117
    Some("getresuid"),               // 118
    Some("setresgid"),               // 119
    Some("getresgid"),               // 120
    Some("getpgid"),                 // 121
    Some("setfsuid"),                // 122
    Some("setfsgid"),                // 123
    Some("getsid"),                  // 124
    Some("capget"),                  // 125
    Some("capset"),                  // 126
    Some("rt_sigpending"),           // 127
    Some("rt_sigtimedwait"),         // 128
    Some("rt_sigqueueinfo"),         // 129
    Some("rt_sigsuspend"),           // 130
    Some("sigaltstack"),             // 131
    Some("utime"),                   // 132
    Some("mknod"),                   // 133
    Some("uselib"),                  // 134
    Some("personality"),             // 135
    Some("ustat"),                   // 136
    Some("statfs"),                  // 137
    Some("fstatfs"),                 // 138
    Some("sysfs"),                   // 139
    Some("getpriority"),             // 140
    Some("setpriority"),             // 141
    Some("sched_setparam"),          // 142
    Some("sched_getparam"),          // 143
    Some("sched_setscheduler"),      // 144
    Some("sched_getscheduler"),      // 145
    Some("sched_get_priority_max"),  // 146
    Some("sched_get_priority_min"),  // 147
    Some("sched_rr_get_interval"),   // 148
    Some("mlock"),                   // 149
    Some("munlock"),                 // 150
    Some("mlockall"),                // 151
    Some("munlockall"),              // 152
    Some("vhangup"),                 // 153
    Some("modify_ldt"),              // 154
    Some("pivot_root"),              // 155
    Some("_sysctl"),                 // 156
    Some("prctl"),                   // 157
    Some("arch_prctl"),              // 158
    Some("adjtimex"),                // 159
    Some("setrlimit"),               // 160
    Some("chroot"),                  // 161
    Some("sync"),                    // 162
    Some("acct"),                    // 163
    Some("settimeofday"),            // 164
    Some("mount"),                   // 165
    Some("umount2"),                 // 166
    Some("swapon"),                  // 167
    Some("swapoff"),                 // 168
    Some("reboot"),                  // 169
    Some("sethostname"),             // 170
    Some("setdomainname"),           // 171
    Some("iopl"),                    // 172
    Some("ioperm"),                  // 173
    Some("create_module"),           // 174
    Some("init_module"),             // 175
    Some("delete_module"),           // 176
    Some("get_kernel_syms"),         // 177
    Some("query_module"),            // 178
    Some("quotactl"),                // 179
    Some("nfsservctl"),              // 180
    Some("getpmsg"),                 // 181
    Some("putpmsg"),                 // 182
    Some("afs_syscall"),             // 183
    Some("tuxcall"),                 // 184
    Some("security"),                // 185
    Some("gettid"),                  // 186
    Some("readahead"),               // 187
    Some("setxattr"),                // 188
    Some("lsetxattr"),               // 189
    Some("fsetxattr"),               // 190
    Some("getxattr"),                // 191
    Some("lgetxattr"),               // 192
    Some("fgetxattr"),               // 193
    Some("listxattr"),               // 194
    Some("llistxattr"),              // 195
    Some("flistxattr"),              // 196
    Some("removexattr"),             // 197
    Some("lremovexattr"),            // 198
    Some("fremovexattr"),            // 199
    Some("tkill"),                   // 200
    Some("time"),                    // 201
    Some("futex"),                   // 202
    Some("sched_setaffinity"),       // 203
    Some("sched_getaffinity"),       // 204
    Some("set_thread_area"),         // 205
    Some("io_setup"),                // 206
    Some("io_destroy"),              // 207
    Some("io_getevents"),            // 208
    Some("io_submit"),               // 209
    Some("io_cancel"),               // 210
    Some("get_thread_area"),         // 211
    Some("lookup_dcookie"),          // 212
    Some("epoll_create"),            // 213
    Some("epoll_ctl_old"),           // 214
    Some("epoll_wait_old"),          // 215
    Some("remap_file_pages"),        // 216
    Some("getdents64"),              // 217
    Some("set_tid_address"),         // 218
    Some("restart_syscall"),         // 219
    Some("semtimedop"),              // 220
    Some("fadvise64"),               // 221
    Some("timer_create"),            // 222
    Some("timer_settime"),           // 223
    Some("timer_gettime"),           // 224
    Some("timer_getoverrun"),        // 225
    Some("timer_delete"),            // 226
    Some("clock_settime"),           // 227
    Some("clock_gettime"),           // 228
    Some("clock_getres"),            // 229
    Some("clock_nanosleep"),         // 230
    Some("exit_group"),              // 231
    Some("epoll_wait"),              // 232
    Some("epoll_ctl"),               // 233
    Some("tgkill"),                  // 234
    Some("utimes"),                  // 235
    Some("vserver"),                 // 236
    Some("mbind"),                   // 237
    Some("set_mempolicy"),           // 238
    Some("get_mempolicy"),           // 239
    Some("mq_open"),                 // 240
    Some("mq_unlink"),               // 241
    Some("mq_timedsend"),            // 242
    Some("mq_timedreceive"),         // 243
    Some("mq_notify"),               // 244
    Some("mq_getsetattr"),           // 245
    Some("kexec_load"),              // 246
    Some("waitid"),                  // 247
    Some("add_key"),                 // 248
    Some("request_key"),             // 249
    Some("keyctl"),                  // 250
    Some("ioprio_set"),              // 251
    Some("ioprio_get"),              // 252
    Some("inotify_init"),            // 253
    Some("inotify_add_watch"),       // 254
    Some("inotify_rm_watch"),        // 255
    Some("migrate_pages"),           // 256
    Some("openat"),                  // 257
    Some("mkdirat"),                 // 258
    Some("mknodat"),                 // 259
    Some("fchownat"),                // 260
    Some("futimesat"),               // 261
    Some("newfstatat"),              // 262
    Some("unlinkat"),                // 263
    Some("renameat"),                // 264
    Some("linkat"),                  // 265
    Some("symlinkat"),               // 266
    Some("readlinkat"),              // 267
    Some("fchmodat"),                // 268
    Some("faccessat"),               // 269
    Some("pselect6"),                // 270
    Some("ppoll"),                   // 271
    Some("unshare"),                 // 272
    Some("set_robust_list"),         // 273
    Some("get_robust_list"),         // 274
    Some("splice"),                  // 275
    Some("tee"),                     // 276
    Some("sync_file_range"),         // 277
    Some("vmsplice"),                // 278
    Some("move_pages"),              // 279
    Some("utimensat"),               // 280
    Some("epoll_pwait"),             // 281
    Some("signalfd"),                // 282
    Some("timerfd_create"),          // 283
    Some("eventfd"),                 // 284
    Some("fallocate"),               // 285
    Some("timerfd_settime"),         // 286
    Some("timerfd_gettime"),         // 287
    Some("accept4"),                 // 288
    Some("signalfd4"),               // 289
    Some("eventfd2"),                // 290
    Some("epoll_create1"),           // 291
    Some("dup3"),                    // 292
    Some("pipe2"),                   // 293
    Some("inotify_init1"),           // 294
    Some("preadv"),                  // 295
    Some("pwritev"),                 // 296
    Some("rt_tgsigqueueinfo"),       // 297
    Some("perf_event_open"),         // 298
    Some("recvmmsg"),                // 299
    Some("fanotify_init"),           // 300
    Some("fanotify_mark"),           // 301
    Some("prlimit64"),               // 302
    Some("name_to_handle_at"),       // 303
    Some("open_by_handle_at"),       // 304
    Some("clock_adjtime"),           // 305
    Some("syncfs"),                  // 306
    Some("sendmmsg"),                // 307
    Some("setns"),                   // 308
    Some("getcpu"),                  // 309
    Some("process_vm_readv"),        // 310
    Some("process_vm_writev"),       // 311
    Some("kcmp"),                    // 312
    Some("finit_module"),            // 313
    Some("sched_setattr"),           // 314
    Some("sched_getattr"),           // 315
    Some("renameat2"),               // 316
    Some("seccomp"),                 // 317
    Some("getrandom"),               // 318
    Some("memfd_create"),            // 319
    Some("kexec_file_load"),         // 320
    Some("bpf"),                     // 321
    Some("execveat"),                // 322
    Some("userfaultfd"),             // 323
    Some("membarrier"),              // 324
    Some("mlock2"),                  // 325
    Some("copy_file_range"),         // 326
    Some("preadv2"),                 // 327
    Some("pwritev2"),                // 328
    Some("pkey_mprotect"),           // 329
    Some("pkey_alloc"),              // 330
    Some("pkey_free"),               // 331
    Some("statx"),                   // 332
    Some("io_pgetevents"),           // 333
    Some("rseq"),                    // 334
    None,                            // 335
    None,                            // 336
    None,                            // 337
    None,                            // 338
    None,                            // 339
    None,                            // 340
    None,                            // 341
    None,                            // 342
    None,                            // 343
    None,                            // 344
    None,                            // 345
    None,                            // 346
    None,                            // 347
    None,                            // 348
    None,                            // 349
    None,                            // 350
    None,                            // 351
    None,                            // 352
    None,                            // 353
    None,                            // 354
    None,                            // 355
    None,                            // 356
    None,                            // 357
    None,                            // 358
    None,                            // 359
    None,                            // 360
    None,                            // 361
    None,                            // 362
    None,                            // 363
    None,                            // 364
    None,                            // 365
    None,                            // 366
    None,                            // 367
    None,                            // 368
    None,                            // 369
    None,                            // 370
    None,                            // 371
    None,                            // 372
    None,                            // 373
    None,                            // 374
    None,                            // 375
    None,                            // 376
    None,                            // 377
    None,                            // 378
    None,                            // 379
    None,                            // 380
    None,                            // 381
    None,                            // 382
    None,                            // 383
    None,                            // 384
    None,                            // 385
    None,                            // 386
    None,                            // 387
    None,                            // 388
    None,                            // 389
    None,                            // 390
    None,                            // 391
    None,                            // 392
    None,                            // 393
    None,                            // 394
    None,                            // 395
    None,                            // 396
    None,                            // 397
    None,                            // 398
    None,                            // 399
    None,                            // 400
    None,                            // 401
    None,                            // 402
    None,                            // 403
    None,                            // 404
    None,                            // 405
    None,                            // 406
    None,                            // 407
    None,                            // 408
    None,                            // 409
    None,                            // 410
    None,                            // 411
    None,                            // 412
    None,                            // 413
    None,                            // 414
    None,                            // 415
    None,                            // 416
    None,                            // 417
    None,                            // 418
    None,                            // 419
    None,                            // 420
    None,                            // 421
    None,                            // 422
    None,                            // 423
    Some("pidfd_send_signal"),       // 424
    Some("io_uring_setup"),          // 425
    Some("io_uring_enter"),          // 426
    Some("io_uring_register"),       // 427
    Some("open_tree"),               // 428
    Some("move_mount"),              // 429
    Some("fsopen"),                  // 430
    Some("fsconfig"),                // 431
    Some("fsmount"),                 // 432
    Some("fspick"),                  // 433
    Some("pidfd_open"),              // 434
    Some("clone3"),                  // 435
    Some("close_range"),             // 436
    Some("openat2"),                 // 437
    Some("pidfd_getfd"),             // 438
    Some("faccessat2"),              // 439
    Some("process_madvise"),         // 440
    Some("epoll_pwait2"),            // 441
    Some("mount_setattr"),           // 442
    Some("quotactl_fd"),             // 443
    Some("landlock_create_ruleset"), // 444
    Some("landlock_add_rule"),       // 445
    Some("landlock_restrict_self"),  // 446
    Some("memfd_secret"),            // 447
    Some("process_mrelease"),        // 448
    Some("futex_waitv"),             // 449
    Some("set_mempolicy_home_node"), // 450
    Some("cachestat"),               // 451
    Some("fchmodat2"),               // 452
    Some("map_shadow_stack"),        // 453
    Some("futex_wake"),              // 454
    Some("futex_wait"),              // 455
    Some("futex_requeue"),           // 456
    Some("statmount"),               // 457
    Some("listmount"),               // 458
    Some("lsm_get_self_attr"),       // 459
    Some("lsm_set_self_attr"),       // 460
    Some("lsm_list_modules"),        // 461
    Some("mseal"),                   // 462
];

/// The Linux name of syscall `nr`, if it has one.
pub fn name(nr: u64) -> Option<&'static str> {
    usize::try_from(nr)
        .ok()
        .and_then(|n| NAMES.get(n).copied().flatten())
}

/// The number of the syscall called `name`.
pub fn number(name: &str) -> Option<u64> {
    NAMES
        .iter()
        .position(|n| *n == Some(name))
        .map(|i| i as u64)
}

/// strace's classes of system calls, as `-e trace=%CLASS` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Calls that take a file name.
    File,
    /// Calls that take or return a file descriptor.
    Desc,
    /// Sockets.
    Network,
    /// Memory mapping.
    Memory,
    /// Signals.
    Signal,
    /// Process and thread life cycle.
    Process,
    /// System V IPC.
    Ipc,
    /// Credentials.
    Creds,
    /// Clocks and timers.
    Clock,
}

impl Class {
    pub const ALL: [Class; 9] = [
        Class::File,
        Class::Desc,
        Class::Network,
        Class::Memory,
        Class::Signal,
        Class::Process,
        Class::Ipc,
        Class::Creds,
        Class::Clock,
    ];

    /// The name after `%` (strace also accepts `%net` for `%network`).
    pub fn name(self) -> &'static str {
        match self {
            Class::File => "file",
            Class::Desc => "desc",
            Class::Network => "network",
            Class::Memory => "memory",
            Class::Signal => "signal",
            Class::Process => "process",
            Class::Ipc => "ipc",
            Class::Creds => "creds",
            Class::Clock => "clock",
        }
    }

    fn parse(s: &str) -> Option<Class> {
        match s {
            "net" => Some(Class::Network),
            _ => Class::ALL.into_iter().find(|c| c.name() == s),
        }
    }

    /// The calls of the class, by name.
    pub fn members(self) -> &'static [&'static str] {
        match self {
            Class::File => &[
                "open",
                "stat",
                "lstat",
                "access",
                "execve",
                "truncate",
                "chdir",
                "rename",
                "mkdir",
                "rmdir",
                "creat",
                "link",
                "unlink",
                "symlink",
                "readlink",
                "chmod",
                "chown",
                "lchown",
                "utime",
                "mknod",
                "uselib",
                "statfs",
                "pivot_root",
                "chroot",
                "acct",
                "mount",
                "umount2",
                "swapon",
                "swapoff",
                "setxattr",
                "lsetxattr",
                "getxattr",
                "lgetxattr",
                "listxattr",
                "llistxattr",
                "removexattr",
                "lremovexattr",
                "utimes",
                "inotify_add_watch",
                "openat",
                "mkdirat",
                "mknodat",
                "fchownat",
                "futimesat",
                "newfstatat",
                "unlinkat",
                "renameat",
                "linkat",
                "symlinkat",
                "readlinkat",
                "fchmodat",
                "faccessat",
                "utimensat",
                "fanotify_mark",
                "name_to_handle_at",
                "renameat2",
                "execveat",
                "statx",
                "open_tree",
                "move_mount",
                "fsconfig",
                "fspick",
                "openat2",
                "faccessat2",
                "mount_setattr",
                "fchmodat2",
            ],
            Class::Desc => &[
                "read",
                "write",
                "open",
                "close",
                "fstat",
                "poll",
                "lseek",
                "mmap",
                "ioctl",
                "pread64",
                "pwrite64",
                "readv",
                "writev",
                "pipe",
                "select",
                "dup",
                "dup2",
                "sendfile",
                "fcntl",
                "flock",
                "fsync",
                "fdatasync",
                "ftruncate",
                "getdents",
                "fchdir",
                "creat",
                "fchmod",
                "fchown",
                "fstatfs",
                "readahead",
                "fsetxattr",
                "fgetxattr",
                "flistxattr",
                "fremovexattr",
                "epoll_create",
                "getdents64",
                "fadvise64",
                "epoll_wait",
                "epoll_ctl",
                "inotify_init",
                "inotify_add_watch",
                "inotify_rm_watch",
                "openat",
                "mkdirat",
                "mknodat",
                "fchownat",
                "futimesat",
                "newfstatat",
                "unlinkat",
                "renameat",
                "linkat",
                "symlinkat",
                "readlinkat",
                "fchmodat",
                "faccessat",
                "pselect6",
                "ppoll",
                "splice",
                "tee",
                "sync_file_range",
                "vmsplice",
                "utimensat",
                "epoll_pwait",
                "signalfd",
                "timerfd_create",
                "eventfd",
                "fallocate",
                "timerfd_settime",
                "timerfd_gettime",
                "signalfd4",
                "eventfd2",
                "epoll_create1",
                "dup3",
                "pipe2",
                "inotify_init1",
                "preadv",
                "pwritev",
                "perf_event_open",
                "fanotify_init",
                "fanotify_mark",
                "name_to_handle_at",
                "open_by_handle_at",
                "syncfs",
                "setns",
                "finit_module",
                "renameat2",
                "memfd_create",
                "bpf",
                "execveat",
                "userfaultfd",
                "copy_file_range",
                "preadv2",
                "pwritev2",
                "statx",
                "pidfd_send_signal",
                "io_uring_setup",
                "io_uring_enter",
                "io_uring_register",
                "open_tree",
                "move_mount",
                "fsopen",
                "fsconfig",
                "fsmount",
                "fspick",
                "pidfd_open",
                "openat2",
                "pidfd_getfd",
                "faccessat2",
                "process_madvise",
                "epoll_pwait2",
                "mount_setattr",
                "close_range",
                "fchmodat2",
            ],
            Class::Network => &[
                "sendfile",
                "socket",
                "connect",
                "accept",
                "sendto",
                "recvfrom",
                "sendmsg",
                "recvmsg",
                "shutdown",
                "bind",
                "listen",
                "getsockname",
                "getpeername",
                "socketpair",
                "setsockopt",
                "getsockopt",
                "getpmsg",
                "putpmsg",
                "accept4",
                "recvmmsg",
                "sendmmsg",
            ],
            Class::Memory => &[
                "mmap",
                "mprotect",
                "munmap",
                "brk",
                "mremap",
                "msync",
                "mincore",
                "madvise",
                "shmat",
                "shmdt",
                "mlock",
                "munlock",
                "mlockall",
                "munlockall",
                "io_setup",
                "io_destroy",
                "remap_file_pages",
                "mbind",
                "set_mempolicy",
                "get_mempolicy",
                "migrate_pages",
                "move_pages",
                "mlock2",
                "pkey_mprotect",
                "process_madvise",
                "memfd_secret",
                "map_shadow_stack",
                "mseal",
            ],
            Class::Signal => &[
                "rt_sigaction",
                "rt_sigprocmask",
                "rt_sigreturn",
                "pause",
                "kill",
                "rt_sigpending",
                "rt_sigtimedwait",
                "rt_sigqueueinfo",
                "rt_sigsuspend",
                "sigaltstack",
                "tkill",
                "tgkill",
                "signalfd",
                "signalfd4",
                "rt_tgsigqueueinfo",
                "pidfd_send_signal",
            ],
            Class::Process => &[
                "clone",
                "fork",
                "vfork",
                "execve",
                "exit",
                "wait4",
                "kill",
                "tkill",
                "exit_group",
                "waitid",
                "tgkill",
                "rt_tgsigqueueinfo",
                "execveat",
                "clone3",
                "pidfd_open",
                "pidfd_send_signal",
            ],
            Class::Ipc => &[
                "shmget",
                "shmat",
                "shmctl",
                "semget",
                "semop",
                "semctl",
                "shmdt",
                "msgget",
                "msgsnd",
                "msgrcv",
                "msgctl",
                "semtimedop",
            ],
            Class::Creds => &[
                "getuid",
                "getgid",
                "setuid",
                "setgid",
                "geteuid",
                "getegid",
                "setreuid",
                "setregid",
                "getgroups",
                "setgroups",
                "setresuid",
                "getresuid",
                "setresgid",
                "getresgid",
                "setfsuid",
                "setfsgid",
                "capget",
                "capset",
                "prctl",
            ],
            Class::Clock => &[
                "gettimeofday",
                "settimeofday",
                "adjtimex",
                "time",
                "clock_settime",
                "clock_gettime",
                "clock_getres",
                "clock_adjtime",
                "nanosleep",
                "clock_nanosleep",
                "alarm",
                "setitimer",
                "getitimer",
                "timer_create",
                "timer_settime",
                "timer_gettime",
                "timer_getoverrun",
                "timer_delete",
                "timerfd_create",
                "timerfd_settime",
                "timerfd_gettime",
            ],
        }
    }
}

/// A set of syscall numbers (0..=[`MAX_NR`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyscallSet([u64; SET_WORDS]);

const SET_WORDS: usize = (MAX_NR + 64) / 64;

impl SyscallSet {
    pub const fn empty() -> SyscallSet {
        SyscallSet([0; SET_WORDS])
    }

    /// Every number that has a name.
    pub fn all() -> SyscallSet {
        let mut s = SyscallSet::empty();
        for (nr, n) in NAMES.iter().enumerate() {
            if n.is_some() {
                s.insert(nr as u64);
            }
        }
        s
    }

    pub fn insert(&mut self, nr: u64) {
        if let Some(w) = self.0.get_mut((nr / 64) as usize) {
            *w |= 1 << (nr % 64);
        }
    }

    pub fn contains(&self, nr: u64) -> bool {
        self.0
            .get((nr / 64) as usize)
            .is_some_and(|w| w & (1 << (nr % 64)) != 0)
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    fn invert(&mut self) {
        let all = SyscallSet::all();
        for (w, a) in self.0.iter_mut().zip(all.0) {
            *w = !*w & a;
        }
    }

    /// Parse a set as strace's `-e trace=SET` writes it: names and classes
    /// (`%file`, `%network`, ...) separated by commas, `all` or `none`, and
    /// a leading `!` for every call but those. An unknown name is an error
    /// that names it (with a hint for a near miss).
    pub fn parse(spec: &str) -> Result<SyscallSet, String> {
        let (negate, body) = match spec.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, spec),
        };
        let mut set = SyscallSet::empty();
        if body.is_empty() {
            return Err(String::from("the set of system calls is empty"));
        }
        for item in body.split(',') {
            match item {
                "all" => set = SyscallSet::all(),
                "none" => {}
                _ => {
                    if let Some(class) = item.strip_prefix('%') {
                        let c = Class::parse(class).ok_or_else(|| {
                            let known: alloc::vec::Vec<&str> =
                                Class::ALL.iter().map(|c| c.name()).collect();
                            alloc::format!("unknown class %{class} (known: %{})", known.join(", %"))
                        })?;
                        for n in c.members() {
                            if let Some(nr) = number(n) {
                                set.insert(nr);
                            }
                        }
                    } else {
                        let nr = number(item)
                            .ok_or_else(|| alloc::format!("unknown system call {item:?}"))?;
                        set.insert(nr);
                    }
                }
            }
        }
        if negate {
            set.invert();
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_agree() {
        assert_eq!(number("read"), Some(0));
        assert_eq!(number("openat"), Some(257));
        assert_eq!(name(231), Some("exit_group"));
        assert_eq!(name(9999), None);
        assert_eq!(number("nosuchcall"), None);
    }

    #[test]
    fn every_class_member_is_a_real_call() {
        for c in Class::ALL {
            for n in c.members() {
                assert!(number(n).is_some(), "%{} names unknown call {n}", c.name());
            }
        }
    }

    #[test]
    fn sets_parse_as_strace_reads_them() {
        let s = SyscallSet::parse("read,%network").unwrap();
        assert!(s.contains(0));
        assert!(s.contains(41)); // socket
        assert!(!s.contains(1)); // write
        let not = SyscallSet::parse("!write").unwrap();
        assert!(!not.contains(1) && not.contains(0));
        assert!(SyscallSet::parse("all").unwrap().contains(257));
        assert!(SyscallSet::parse("none").unwrap().is_empty());
        let net = SyscallSet::parse("%net").unwrap();
        assert_eq!(net, SyscallSet::parse("%network").unwrap());
        assert!(SyscallSet::parse("%memory").unwrap().contains(9)); // mmap
    }

    #[test]
    fn bad_sets_are_named() {
        assert_eq!(
            SyscallSet::parse("read,opne").unwrap_err(),
            "unknown system call \"opne\""
        );
        assert!(SyscallSet::parse("%nope").unwrap_err().contains("%file"));
        assert!(SyscallSet::parse("").is_err());
        assert!(SyscallSet::parse("read,,write").is_err());
    }
}
