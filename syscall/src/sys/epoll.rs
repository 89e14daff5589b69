//! epoll as an observer of readiness keys (STYLE.md point 7): each
//! interest watches its object's keys; a change puts the interest on the
//! ready queue ((`crate::ready`)), and `epoll_wait` looks only
//! at queued interests (plus those on objects without keys, such as pipes
//! and the console, which are looked at on every wait). Level-triggered
//! interests that were reported stay queued while they are ready;
//! edge-triggered ones leave the queue until their object changes again;
//! one-shot ones are disabled until EPOLL_CTL_MOD.

use crate::call::{ok, Args, Call, Outcome};
use crate::fd::{FileRef, O_CLOEXEC, O_RDWR};
use crate::net::{Net, ReadyKey};
use crate::process::WaitFor;
use crate::ready::{Observe, Seen};
use crate::sys::wait;
use crate::vfs::{Cx, Description, Events, FileObject};
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;
use kiln_abi::errno::{Errno, SysResult};
use kiln_abi::stat::{makedev, Stat, S_IFDIR, S_IFMT, S_IFREG};

pub const EPOLL_CTL_ADD: u32 = 1;
pub const EPOLL_CTL_DEL: u32 = 2;
pub const EPOLL_CTL_MOD: u32 = 3;
pub const EPOLLIN: u32 = 0x001;
pub const EPOLLPRI: u32 = 0x002;
pub const EPOLLOUT: u32 = 0x004;
pub const EPOLLERR: u32 = 0x008;
pub const EPOLLHUP: u32 = 0x010;
pub const EPOLLRDNORM: u32 = 0x040;
pub const EPOLLRDBAND: u32 = 0x080;
pub const EPOLLWRNORM: u32 = 0x100;
pub const EPOLLWRBAND: u32 = 0x200;
pub const EPOLLMSG: u32 = 0x400;
pub const EPOLLRDHUP: u32 = 0x2000;
pub const EPOLLEXCLUSIVE: u32 = 1 << 28;
pub const EPOLLWAKEUP: u32 = 1 << 29;
pub const EPOLLONESHOT: u32 = 1 << 30;
pub const EPOLLET: u32 = 1 << 31;
/// Bits EPOLLEXCLUSIVE may come with (Linux's EPOLLEXCLUSIVE_OK_BITS).
const EXCLUSIVE_OK: u32 = EPOLLIN
    | EPOLLOUT
    | EPOLLRDNORM
    | EPOLLRDBAND
    | EPOLLWRNORM
    | EPOLLWRBAND
    | EPOLLERR
    | EPOLLHUP
    | EPOLLWAKEUP
    | EPOLLET
    | EPOLLEXCLUSIVE;
/// `sizeof(struct epoll_event)` (packed on x86_64).
const EVENT_LEN: usize = 12;
/// Deepest nesting of epoll instances (Linux's EP_MAX_NESTS).
const MAX_NESTS: usize = 4;
const EP_MAX_EVENTS: i32 = i32::MAX / EVENT_LEN as i32;

/// Identifies an interest: the descriptor and the description it named.
type FdKey = (i32, usize);

struct Interest {
    id: u64,
    file: Weak<Description>,
    events: u32,
    data: u64,
    keys: Vec<ReadyKey>,
    keyed: bool,
    disabled: bool,
    /// Unkeyed edge-triggered interests: the mask last reported.
    last: u32,
}

#[derive(Default)]
struct State {
    interests: BTreeMap<FdKey, Interest>,
    by_id: BTreeMap<u64, FdKey>,
    queue: VecDeque<u64>,
    next_id: u64,
}

impl State {
    fn enqueue(&mut self, id: u64) {
        if !self.queue.contains(&id) {
            self.queue.push_back(id);
        }
    }
    fn remove(&mut self, k: FdKey) -> Option<Interest> {
        let it = self.interests.remove(&k)?;
        self.by_id.remove(&it.id);
        self.queue.retain(|&q| q != it.id);
        Some(it)
    }
    fn unkeyed(&self) -> impl Iterator<Item = u64> + '_ {
        self.interests.values().filter(|i| !i.keyed).map(|i| i.id)
    }
}

struct Shared {
    key: ReadyKey,
    st: spin::Mutex<State>,
}

impl Observe for Shared {
    fn changed(&self, id: u64) -> Seen {
        let mut st = self.st.lock();
        let Some(&fk) = st.by_id.get(&id) else {
            return Seen::Gone;
        };
        if st
            .interests
            .get(&fk)
            .is_none_or(|i| i.file.strong_count() == 0)
        {
            // Every descriptor of the object was closed: Linux drops the
            // interest with the file.
            st.remove(fk);
            return Seen::Gone;
        }
        st.enqueue(id);
        Seen::Notify(self.key)
    }
}

/// An epoll instance.
pub struct Epoll {
    shared: Arc<Shared>,
    net: Net,
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // Epolls watching this one look again (and drop their interest).
        self.net.notify(self.shared.key);
    }
}

fn mask_of(e: Events) -> u32 {
    e.bits() as u32
}

impl Epoll {
    fn new(net: &Net) -> Epoll {
        Epoll {
            shared: Arc::new(Shared {
                key: net.new_key(),
                st: spin::Mutex::new(State::default()),
            }),
            net: net.clone(),
        }
    }

    fn of(f: &FileRef) -> Option<&Epoll> {
        f.obj.as_any().downcast_ref::<Epoll>()
    }

    /// Take up to `max` events: (mask, data). `consume`: false only looks
    /// (the epoll's own readiness).
    fn collect(&self, cx: &mut Cx<'_>, max: usize, consume: bool) -> Vec<(u32, u64)> {
        let mut st = self.shared.st.lock();
        let mut ids: Vec<u64> = st.queue.iter().copied().collect();
        let unkeyed: Vec<u64> = st.unkeyed().filter(|i| !ids.contains(i)).collect();
        ids.extend(unkeyed);
        let mut out = Vec::new();
        let mut keep = VecDeque::new();
        for id in ids {
            let Some(&fk) = st.by_id.get(&id) else {
                continue;
            };
            if out.len() >= max {
                if st.interests.get(&fk).is_some_and(|i| i.keyed) {
                    keep.push_back(id);
                }
                continue;
            }
            let Some(it) = st.interests.get_mut(&fk) else {
                continue;
            };
            if it.disabled {
                continue;
            }
            let Some(file) = it.file.upgrade() else {
                if consume {
                    st.remove(fk);
                }
                continue;
            };
            let ev = mask_of(file.obj.poll(cx)) & (it.events | EPOLLERR | EPOLLHUP);
            drop(file);
            if !consume {
                if ev != 0 && (it.keyed || it.events & EPOLLET == 0 || ev != it.last) {
                    out.push((ev, it.data));
                }
                continue;
            }
            if ev == 0 {
                it.last = 0;
                continue;
            }
            if it.events & EPOLLONESHOT != 0 {
                it.disabled = true;
            } else if it.events & EPOLLET != 0 {
                if !it.keyed {
                    if ev == it.last {
                        continue;
                    }
                    it.last = ev;
                }
            } else if it.keyed {
                keep.push_back(id);
            }
            out.push((ev, it.data));
        }
        if consume {
            st.queue = keep;
        }
        out
    }

    /// Whether every interest has keys, nested epolls' included (waiters
    /// can then park on this epoll's key).
    fn keyed(&self) -> bool {
        self.keyed_at(0)
    }

    fn keyed_at(&self, depth: usize) -> bool {
        let nested: Vec<FileRef> = {
            let st = self.shared.st.lock();
            if !st.interests.values().all(|i| i.keyed) {
                return false;
            }
            st.interests
                .values()
                .filter_map(|i| i.file.upgrade())
                .filter(|f| Epoll::of(f).is_some())
                .collect()
        };
        depth <= MAX_NESTS
            && nested
                .iter()
                .filter_map(Epoll::of)
                .all(|e| e.keyed_at(depth + 1))
    }

    /// Whether `target` is reachable from this epoll through nested
    /// epolls, or the nesting gets deeper than Linux allows.
    fn reaches(&self, target: &Arc<Shared>, depth: usize) -> bool {
        if Arc::ptr_eq(&self.shared, target) || depth > MAX_NESTS {
            return true;
        }
        let files: Vec<FileRef> = self
            .shared
            .st
            .lock()
            .interests
            .values()
            .filter_map(|i| i.file.upgrade())
            .collect();
        files
            .iter()
            .filter_map(Epoll::of)
            .any(|e| e.reaches(target, depth + 1))
    }
}

impl FileObject for Epoll {
    fn stat(&self, _cx: &mut Cx<'_>) -> SysResult<Stat> {
        Ok(Stat {
            dev: makedev(0, 14),
            ino: self.shared.key.0 as u64,
            nlink: 1,
            mode: 0o600,
            blksize: 4096,
            ..Default::default()
        })
    }
    fn poll(&self, cx: &mut Cx<'_>) -> Events {
        if self.collect(cx, 1, false).is_empty() {
            Events::empty()
        } else {
            Events::IN | Events::RDNORM
        }
    }
    fn wake_keys(&self, out: &mut Vec<ReadyKey>) -> bool {
        out.push(self.shared.key);
        self.keyed()
    }
    fn name(&self) -> Option<String> {
        Some(String::from("anon_inode:[eventpoll]"))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn create(c: &mut Call<'_>, cloexec: bool) -> SysResult<Outcome> {
    let ep = Epoll::new(c.proc.net());
    let d = Description::new(Box::new(ep), O_RDWR, None, None);
    let limit = c.fd_limit();
    let fd = c.proc.fds_mut().open(Arc::new(d), cloexec, limit)?;
    ok(fd as u64)
}

/// Implements Linux `epoll_create(2)` (size must be positive, else EINVAL).
pub fn epoll_create(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    if a.int(0) <= 0 {
        return Err(Errno::EINVAL);
    }
    create(c, false)
}

/// Implements Linux `epoll_create1(2)` (EPOLL_CLOEXEC).
pub fn epoll_create1(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let flags = a.uint(0);
    if flags & !O_CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    create(c, flags != 0)
}

/// Implements Linux `epoll_ctl(2)`: ADD (EEXIST), MOD and DEL (ENOENT);
/// EPERM for regular files and directories, EINVAL for the epoll itself,
/// ELOOP for cycles and nesting deeper than 4; EPOLLEXCLUSIVE with ADD
/// only; EPOLLWAKEUP accepted and ignored.
pub fn epoll_ctl(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let (epfd, op, fd, ev_ptr) = (a.fd(0), a.uint(1), a.fd(2), a.u(3));
    let epf = c.proc.fds().get(epfd)?.clone();
    let target = c.proc.fds().get(fd)?.clone();
    let Some(ep) = Epoll::of(&epf) else {
        return Err(Errno::EINVAL);
    };
    if !matches!(op, EPOLL_CTL_ADD | EPOLL_CTL_DEL | EPOLL_CTL_MOD) {
        return Err(Errno::EINVAL);
    }
    let (events, data) = if op != EPOLL_CTL_DEL {
        let b = c.mem().read_array::<EVENT_LEN>(ev_ptr)?;
        (
            u32::from_le_bytes(b[..4].try_into().unwrap_or_default()),
            u64::from_le_bytes(b[4..].try_into().unwrap_or_default()),
        )
    } else {
        (0, 0)
    };
    let mode = {
        let mut cx = c.cx();
        target
            .obj
            .stat(&mut cx)
            .map(|s| s.mode & S_IFMT)
            .unwrap_or(0)
    };
    if mode == S_IFREG || mode == S_IFDIR {
        return Err(Errno::EPERM);
    }
    if Arc::ptr_eq(&epf, &target) {
        return Err(Errno::EINVAL);
    }
    let exclusive_bad = op == EPOLL_CTL_MOD
        || (op == EPOLL_CTL_ADD && (Epoll::of(&target).is_some() || events & !EXCLUSIVE_OK != 0));
    if events & EPOLLEXCLUSIVE != 0 && exclusive_bad {
        return Err(Errno::EINVAL);
    }
    let fk: FdKey = (fd, Arc::as_ptr(&target) as usize);
    let weak: Weak<dyn Observe> = {
        let w: Weak<Shared> = Arc::downgrade(&ep.shared);
        w
    };
    match op {
        EPOLL_CTL_ADD => {
            if ep.shared.st.lock().interests.contains_key(&fk) {
                return Err(Errno::EEXIST);
            }
            if let Some(inner) = Epoll::of(&target) {
                if inner.reaches(&ep.shared, 1) {
                    return Err(Errno::ELOOP);
                }
            }
            let mut keys = Vec::new();
            let keyed = target.obj.wake_keys(&mut keys);
            let keys = if Epoll::of(&target).is_some() {
                // A nested epoll announces itself on its own key.
                let mut k = Vec::new();
                let _ = target.obj.wake_keys(&mut k);
                k.truncate(1);
                k
            } else {
                keys
            };
            let keyed = keyed || Epoll::of(&target).is_some();
            let id = {
                let mut st = ep.shared.st.lock();
                st.next_id += 1;
                let id = st.next_id;
                st.interests.insert(
                    fk,
                    Interest {
                        id,
                        file: Arc::downgrade(&target),
                        events,
                        data,
                        keys: keys.clone(),
                        keyed,
                        disabled: false,
                        last: 0,
                    },
                );
                st.by_id.insert(id, fk);
                st.enqueue(id);
                id
            };
            for k in keys {
                c.proc.ready_mut().observe(k, weak.clone(), id);
            }
        }
        EPOLL_CTL_MOD => {
            let mut st = ep.shared.st.lock();
            let Some(it) = st.interests.get_mut(&fk) else {
                return Err(Errno::ENOENT);
            };
            if it.events & EPOLLEXCLUSIVE != 0 {
                return Err(Errno::EINVAL);
            }
            it.events = events;
            it.data = data;
            it.disabled = false;
            it.last = 0;
            let id = it.id;
            st.enqueue(id);
        }
        _ => {
            let it = ep.shared.st.lock().remove(fk).ok_or(Errno::ENOENT)?;
            for k in it.keys {
                c.proc.ready_mut().unobserve(k, &weak, it.id);
            }
        }
    }
    // Threads waiting on this epoll look again.
    c.proc.net().notify(ep.shared.key);
    ok(0)
}

/// Common body of the epoll_wait family; `timeout` None waits forever.
fn wait(
    c: &mut Call<'_>,
    epfd: i32,
    evs: u64,
    max: i32,
    timeout: Option<u64>,
) -> SysResult<Outcome> {
    let epf = c.proc.fds().get(epfd)?.clone();
    let Some(ep) = Epoll::of(&epf) else {
        return Err(Errno::EINVAL);
    };
    if max <= 0 || max > EP_MAX_EVENTS {
        return Err(Errno::EINVAL);
    }
    let end = evs.checked_add(max as u64 * EVENT_LEN as u64);
    if evs == 0 || end.is_none_or(|e| e > crate::mm::TASK_SIZE) {
        return Err(Errno::EFAULT);
    }
    let got = {
        let mut cx = c.cx();
        ep.collect(&mut cx, max as usize, true)
    };
    if !got.is_empty() {
        let mut out = Vec::with_capacity(got.len() * EVENT_LEN);
        for (m, d) in &got {
            out.extend_from_slice(&m.to_le_bytes());
            out.extend_from_slice(&d.to_le_bytes());
        }
        c.mem().write(evs, &out)?;
        return ok(got.len() as u64);
    }
    if timeout == Some(0) {
        return ok(0);
    }
    let deadline = timeout.map(|t| c.deadline(|now| now.saturating_add(t)));
    if deadline.is_some_and(|d| c.now() >= d) {
        return ok(0);
    }
    if ep.keyed() {
        let key = ep.shared.key;
        Ok(Outcome::Block(wait::park(c, alloc::vec![key], deadline)))
    } else {
        Ok(Outcome::Block(WaitFor::Event { deadline }))
    }
}

/// The signal mask of epoll_pwait/epoll_pwait2: in force while the call
/// waits, as for ppoll.
fn apply_sigmask(c: &mut Call<'_>, mask: u64, size: u64) -> SysResult<()> {
    if mask != 0 {
        if size != 8 {
            return Err(Errno::EINVAL);
        }
        let mask = c.mem().read_u64(mask)?;
        c.set_temp_mask(mask);
    }
    Ok(())
}

fn ms(t: i32) -> Option<u64> {
    (t >= 0).then(|| t as u64 * 1_000_000)
}

/// Implements Linux `epoll_wait(2)`: level- and edge-triggered, one-shot;
/// parks the thread on the epoll's key until an interest changes.
pub fn epoll_wait(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    wait(c, a.fd(0), a.u(1), a.int(2), ms(a.int(3)))
}

/// Implements Linux `epoll_pwait(2)`: epoll_wait with a signal mask in
/// force while it waits.
pub fn epoll_pwait(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    apply_sigmask(c, a.u(4), a.u(5))?;
    wait(c, a.fd(0), a.u(1), a.int(2), ms(a.int(3)))
}

/// Implements Linux `epoll_pwait2(2)`: a timespec timeout (NULL: none);
/// the signal mask as for epoll_pwait.
pub fn epoll_pwait2(c: &mut Call<'_>, a: Args) -> SysResult<Outcome> {
    let timeout = if a.u(3) != 0 {
        Some(crate::sys::time::read_timespec(c, a.u(3))?)
    } else {
        None
    };
    apply_sigmask(c, a.u(4), a.u(5))?;
    wait(c, a.fd(0), a.u(1), a.int(2), timeout)
}
