//! AF_UNIX stream and datagram sockets, in memory. Names live in a table
//! in the stack keyed by address (paths and abstract names alike); binding
//! a path does not create a file yet, and the name goes with the socket.

use super::addr::UnixAddr;
use super::cell::Shared;
use super::stack::{Net, ReadyKey};
use super::{MsgFlags, PollMask, Received, Shutdown, SockAddr, SockOpt, SockOptName, SockType};
use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use kiln_abi::errno::Errno;

/// Bytes a stream end holds unread.
const STREAM_BUF: usize = 128 * 1024;
/// Bytes and datagrams a datagram socket holds unread.
const DGRAM_BUF: usize = 128 * 1024;
const DGRAM_SLOTS: usize = 64;

pub(super) type Names = BTreeMap<UnixAddr, Weak<Shared<Inner>>>;

pub(super) struct Inner {
    key: u32,
    ty: SockType,
    name: UnixAddr,
    /// Stream: `connect` succeeded, or the end was made by a connect or
    /// socketpair. Datagram: `peer` is set.
    connected: bool,
    peer: Option<Weak<Shared<Inner>>>,
    /// Received bytes (stream).
    stream: VecDeque<u8>,
    /// Received datagrams with their senders.
    dgrams: VecDeque<(Vec<u8>, UnixAddr)>,
    dgram_bytes: usize,
    rcv_shut: bool,
    snd_shut: bool,
    /// Listening: connections made to us, not yet accepted.
    listening: bool,
    backlog: VecDeque<Arc<Shared<Inner>>>,
    backlog_max: usize,
}

impl Inner {
    fn new(key: u32, ty: SockType) -> Inner {
        Inner {
            key,
            ty,
            name: UnixAddr::Unnamed,
            connected: false,
            peer: None,
            stream: VecDeque::new(),
            dgrams: VecDeque::new(),
            dgram_bytes: 0,
            rcv_shut: false,
            snd_shut: false,
            listening: false,
            backlog: VecDeque::new(),
            backlog_max: 0,
        }
    }

    fn room(&self) -> usize {
        match self.ty {
            SockType::Stream => STREAM_BUF - self.stream.len(),
            SockType::Dgram if self.dgrams.len() >= DGRAM_SLOTS => 0,
            SockType::Dgram => DGRAM_BUF - self.dgram_bytes,
        }
    }
}

/// An AF_UNIX socket. Dropping it is the last `close`.
pub struct UnixSocket {
    net: Net,
    inner: Arc<Shared<Inner>>,
}

/// Implements Linux `socketpair(2)` for AF_UNIX: two connected sockets.
pub fn socketpair(net: &Net, ty: SockType) -> (UnixSocket, UnixSocket) {
    let a = UnixSocket::new(net, ty);
    let b = UnixSocket::new(net, ty);
    connect_pair(&a.inner, &b.inner);
    (a, b)
}

fn connect_pair(a: &Arc<Shared<Inner>>, b: &Arc<Shared<Inner>>) {
    let mut x = a.borrow_mut();
    x.peer = Some(Arc::downgrade(b));
    x.connected = true;
    drop(x);
    let mut y = b.borrow_mut();
    y.peer = Some(Arc::downgrade(a));
    y.connected = true;
}

impl UnixSocket {
    pub fn new(net: &Net, ty: SockType) -> UnixSocket {
        let key = net.stack().new_key();
        UnixSocket {
            net: net.clone(),
            inner: Arc::new(Shared::new(Inner::new(key, ty))),
        }
    }

    pub fn key(&self) -> ReadyKey {
        ReadyKey(self.inner.borrow().key)
    }

    pub fn sock_type(&self) -> SockType {
        self.inner.borrow().ty
    }

    fn peer(&self) -> Option<Arc<Shared<Inner>>> {
        self.inner.borrow().peer.as_ref().and_then(Weak::upgrade)
    }

    fn notify(&self, key: u32) {
        self.net.stack().mark_changed(key);
    }

    fn lookup(&self, addr: &UnixAddr) -> Result<Arc<Shared<Inner>>, Errno> {
        let found = self
            .net
            .stack()
            .unix_names
            .get(addr)
            .and_then(Weak::upgrade);
        match (found, addr) {
            (Some(s), _) => Ok(s),
            (None, UnixAddr::Path(_)) => Err(Errno::ENOENT),
            (None, _) => Err(Errno::ECONNREFUSED),
        }
    }

    /// Implements `bind(2)`; an empty address picks an abstract name, as
    /// Linux's autobind does.
    pub fn bind(&self, addr: UnixAddr) -> Result<(), Errno> {
        if self.inner.borrow().name != UnixAddr::Unnamed {
            return Err(Errno::EINVAL);
        }
        let mut st = self.net.stack();
        let addr = match addr {
            UnixAddr::Unnamed => {
                let mut n = self.inner.borrow().key;
                loop {
                    let a = UnixAddr::Abstract(format!("{:05x}", n & 0xfffff).into_bytes());
                    if st.unix_names.get(&a).and_then(Weak::upgrade).is_none() {
                        break a;
                    }
                    n = n.wrapping_add(1);
                }
            }
            a => a,
        };
        if st.unix_names.get(&addr).and_then(Weak::upgrade).is_some() {
            return Err(Errno::EADDRINUSE);
        }
        st.unix_names
            .insert(addr.clone(), Arc::downgrade(&self.inner));
        self.inner.borrow_mut().name = addr;
        Ok(())
    }

    /// Implements `listen(2)` (stream sockets only).
    pub fn listen(&self, backlog: i32) -> Result<(), Errno> {
        let mut me = self.inner.borrow_mut();
        if me.ty != SockType::Stream {
            return Err(Errno::EOPNOTSUPP);
        }
        if me.name == UnixAddr::Unnamed || me.connected {
            return Err(Errno::EINVAL);
        }
        me.listening = true;
        me.backlog_max =
            usize::try_from(backlog).map_or(super::MAX_BACKLOG, |b| b.clamp(1, super::MAX_BACKLOG));
        Ok(())
    }

    /// Implements `connect(2)`. Stream connections complete at once (or
    /// `EAGAIN` when the listener's backlog is full).
    pub fn connect(&self, addr: &UnixAddr) -> Result<(), Errno> {
        let ty = self.inner.borrow().ty;
        let target = self.lookup(addr)?;
        if target.borrow().ty != ty {
            return Err(Errno::EPROTOTYPE);
        }
        if ty == SockType::Dgram {
            let mut me = self.inner.borrow_mut();
            me.peer = Some(Arc::downgrade(&target));
            me.connected = true;
            return Ok(());
        }
        {
            let me = self.inner.borrow();
            if me.connected {
                return Err(Errno::EISCONN);
            }
            if me.listening {
                return Err(Errno::EINVAL);
            }
        }
        if Arc::ptr_eq(&target, &self.inner) {
            return Err(Errno::ECONNREFUSED);
        }
        let (tkey, tname) = {
            let t = target.borrow();
            if !t.listening {
                return Err(Errno::ECONNREFUSED);
            }
            if t.backlog.len() >= t.backlog_max {
                return Err(Errno::EAGAIN);
            }
            (t.key, t.name.clone())
        };
        let key = self.net.stack().new_key();
        let server = Arc::new(Shared::new(Inner::new(key, SockType::Stream)));
        server.borrow_mut().name = tname;
        connect_pair(&self.inner, &server);
        target.borrow_mut().backlog.push_back(server);
        self.notify(tkey);
        Ok(())
    }

    /// Implements `accept(2)`: `EAGAIN` when nobody is waiting.
    pub fn accept(&self) -> Result<(UnixSocket, UnixAddr), Errno> {
        let mut me = self.inner.borrow_mut();
        if !me.listening {
            return Err(Errno::EINVAL);
        }
        let inner = me.backlog.pop_front().ok_or(Errno::EAGAIN)?;
        drop(me);
        let peer_name = inner
            .borrow()
            .peer
            .as_ref()
            .and_then(Weak::upgrade)
            .map_or(UnixAddr::Unnamed, |p| p.borrow().name.clone());
        Ok((
            UnixSocket {
                net: self.net.clone(),
                inner,
            },
            peer_name,
        ))
    }

    /// Implements `sendto(2)`.
    pub fn send_to(
        &self,
        data: &[u8],
        _flags: MsgFlags,
        to: Option<&UnixAddr>,
    ) -> Result<usize, Errno> {
        let (ty, snd_shut, connected) = {
            let me = self.inner.borrow();
            (me.ty, me.snd_shut, me.connected)
        };
        if snd_shut {
            return Err(Errno::EPIPE);
        }
        match ty {
            SockType::Stream => {
                if !connected {
                    return Err(Errno::ENOTCONN);
                }
                let peer = self.peer().ok_or(Errno::EPIPE)?;
                let mut p = peer.borrow_mut();
                if p.rcv_shut {
                    return Err(Errno::EPIPE);
                }
                let n = p.room().min(data.len());
                if n == 0 && !data.is_empty() {
                    return Err(Errno::EAGAIN);
                }
                p.stream.try_reserve(n).map_err(|_| Errno::ENOMEM)?;
                p.stream.extend(&data[..n]);
                let key = p.key;
                drop(p);
                self.notify(key);
                Ok(n)
            }
            SockType::Dgram => {
                let target = match to {
                    Some(a) => self.lookup(a)?,
                    None if connected => self.peer().ok_or(Errno::ECONNREFUSED)?,
                    None => return Err(Errno::ENOTCONN),
                };
                let from = self.inner.borrow().name.clone();
                let mut t = target.borrow_mut();
                if t.ty != SockType::Dgram {
                    return Err(Errno::EPROTOTYPE);
                }
                if let Some(p) = t.peer.as_ref().and_then(Weak::upgrade) {
                    if !Arc::ptr_eq(&p, &self.inner) && !Arc::ptr_eq(&target, &self.inner) {
                        return Err(Errno::EPERM);
                    }
                }
                if t.rcv_shut {
                    return Err(Errno::EPIPE);
                }
                if data.len() > DGRAM_BUF {
                    return Err(Errno::EMSGSIZE);
                }
                if t.room() < data.len() || t.dgrams.len() >= DGRAM_SLOTS {
                    return Err(Errno::EAGAIN);
                }
                t.dgram_bytes += data.len();
                t.dgrams.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
                t.dgrams.push_back((crate::fallible::to_vec(data)?, from));
                let key = t.key;
                drop(t);
                self.notify(key);
                Ok(data.len())
            }
        }
    }

    /// Implements `recvfrom(2)`.
    pub fn recv_from(&self, buf: &mut [u8], flags: MsgFlags) -> Result<Received, Errno> {
        let peek = flags.contains(MsgFlags::PEEK);
        let mut me = self.inner.borrow_mut();
        match me.ty {
            SockType::Stream => {
                if !me.connected {
                    return Err(Errno::EINVAL);
                }
                if me.stream.is_empty() {
                    let gone = me.peer.as_ref().and_then(Weak::upgrade).is_none();
                    if me.rcv_shut || gone || buf.is_empty() {
                        return Ok(Received {
                            len: 0,
                            full_len: 0,
                            from: None,
                            dst: None,
                        });
                    }
                    return Err(Errno::EAGAIN);
                }
                let n = me.stream.len().min(buf.len());
                for (d, s) in buf.iter_mut().zip(me.stream.iter()) {
                    *d = *s;
                }
                if !peek {
                    me.stream.drain(..n);
                }
                drop(me);
                if let Some(p) = self.peer() {
                    let key = p.borrow().key;
                    self.notify(key);
                }
                Ok(Received {
                    len: n,
                    full_len: n,
                    from: None,
                    dst: None,
                })
            }
            SockType::Dgram => {
                let Some((data, from)) = (if peek {
                    me.dgrams.front().cloned()
                } else {
                    me.dgrams.pop_front()
                }) else {
                    if me.rcv_shut {
                        return Ok(Received {
                            len: 0,
                            full_len: 0,
                            from: None,
                            dst: None,
                        });
                    }
                    return Err(Errno::EAGAIN);
                };
                if !peek {
                    me.dgram_bytes -= data.len();
                }
                let n = data.len().min(buf.len());
                buf[..n].copy_from_slice(&data[..n]);
                Ok(Received {
                    len: n,
                    full_len: data.len(),
                    from: Some(SockAddr::Unix(from)),
                    dst: None,
                })
            }
        }
    }

    /// Implements `shutdown(2)`.
    pub fn shutdown(&self, how: Shutdown) -> Result<(), Errno> {
        let mut me = self.inner.borrow_mut();
        if !me.connected {
            return Err(Errno::ENOTCONN);
        }
        me.rcv_shut |= how.read();
        me.snd_shut |= how.write();
        let key = me.key;
        drop(me);
        self.notify(key);
        if self.sock_type() == SockType::Stream {
            if let Some(p) = self.peer() {
                let mut p = p.borrow_mut();
                p.rcv_shut |= how.write();
                p.snd_shut |= how.read();
                let key = p.key;
                drop(p);
                self.notify(key);
            }
        }
        Ok(())
    }

    /// Current Linux poll mask.
    pub fn poll(&self) -> PollMask {
        let me = self.inner.borrow();
        if me.listening {
            return if me.backlog.is_empty() {
                PollMask::empty()
            } else {
                PollMask::READABLE
            };
        }
        let peer = me.peer.as_ref().and_then(Weak::upgrade);
        let mut m = PollMask::empty();
        match me.ty {
            SockType::Stream => {
                if !me.connected {
                    return PollMask::WRITABLE | PollMask::HUP;
                }
                let gone = peer.is_none();
                let rd = me.rcv_shut || gone;
                let wr = me.snd_shut || gone;
                if rd && wr {
                    m |= PollMask::HUP;
                }
                if rd {
                    m |= PollMask::READ_HUP;
                }
                if !me.stream.is_empty() {
                    m |= PollMask::READABLE;
                }
                if wr || peer.is_some_and(|p| p.borrow().room() > 0) {
                    m |= PollMask::WRITABLE;
                }
            }
            SockType::Dgram => {
                if !me.dgrams.is_empty() {
                    m |= PollMask::READABLE;
                }
                if me.rcv_shut {
                    m |= PollMask::READ_HUP;
                }
                if me.rcv_shut && me.snd_shut {
                    m |= PollMask::HUP;
                }
                let room = match &peer {
                    Some(p) if !Arc::ptr_eq(p, &self.inner) => p.borrow().room() > 0,
                    Some(_) => me.room() > 0,
                    None => true,
                };
                if room {
                    m |= PollMask::WRITABLE;
                }
            }
        }
        m
    }

    /// Implements `getsockname(2)`.
    pub fn local_addr(&self) -> UnixAddr {
        self.inner.borrow().name.clone()
    }

    /// Implements `getpeername(2)`.
    pub fn peer_addr(&self) -> Result<UnixAddr, Errno> {
        if !self.inner.borrow().connected {
            return Err(Errno::ENOTCONN);
        }
        Ok(self
            .peer()
            .map_or(UnixAddr::Unnamed, |p| p.borrow().name.clone()))
    }

    /// Implements `setsockopt(2)`: buffer sizes and the like are accepted
    /// and ignored.
    pub fn set_option(&self, opt: SockOpt) -> Result<(), Errno> {
        match opt {
            SockOpt::ReuseAddr(_)
            | SockOpt::ReusePort(_)
            | SockOpt::KeepAlive(_)
            | SockOpt::RcvBuf(_)
            | SockOpt::SndBuf(_)
            | SockOpt::Linger(_) => Ok(()),
            SockOpt::Error(_) | SockOpt::Type(_) => Err(Errno::ENOPROTOOPT),
            _ => Err(Errno::EOPNOTSUPP),
        }
    }

    /// Implements `getsockopt(2)`.
    pub fn option(&self, name: SockOptName) -> Result<SockOpt, Errno> {
        Ok(match name {
            SockOptName::Error => SockOpt::Error(None),
            SockOptName::Type => SockOpt::Type(self.sock_type()),
            SockOptName::RcvBuf => SockOpt::RcvBuf((STREAM_BUF * 2) as u32),
            SockOptName::SndBuf => SockOpt::SndBuf((STREAM_BUF * 2) as u32),
            SockOptName::ReuseAddr => SockOpt::ReuseAddr(false),
            SockOptName::ReusePort => SockOpt::ReusePort(false),
            SockOptName::KeepAlive => SockOpt::KeepAlive(false),
            SockOptName::Linger => SockOpt::Linger(None),
            _ => return Err(Errno::EOPNOTSUPP),
        })
    }

    /// Bytes waiting (`FIONREAD`; the next datagram's size for datagrams).
    pub fn readable_bytes(&self) -> usize {
        let me = self.inner.borrow();
        match me.ty {
            SockType::Stream => me.stream.len(),
            SockType::Dgram => me.dgrams.front().map_or(0, |d| d.0.len()),
        }
    }
}

/// Tell `end`'s peer that `end` is gone.
fn hang_up(net: &Net, end: &Arc<Shared<Inner>>) {
    let (ty, peer) = {
        let e = end.borrow();
        (e.ty, e.peer.as_ref().and_then(Weak::upgrade))
    };
    if let Some(p) = peer {
        let mut p = p.borrow_mut();
        if ty == SockType::Stream {
            p.rcv_shut = true;
            p.snd_shut = true;
        }
        let key = p.key;
        drop(p);
        net.stack().mark_changed(key);
    }
}

impl Drop for UnixSocket {
    fn drop(&mut self) {
        let (name, backlog) = {
            let mut me = self.inner.borrow_mut();
            (me.name.clone(), core::mem::take(&mut me.backlog))
        };
        {
            let mut st = self.net.stack();
            let ours = st
                .unix_names
                .get(&name)
                .is_some_and(|w| core::ptr::eq(w.as_ptr(), Arc::as_ptr(&self.inner)));
            if ours {
                st.unix_names.remove(&name);
            }
        }
        for end in &backlog {
            hang_up(&self.net, end);
        }
        hang_up(&self.net, &self.inner);
    }
}
