//! Linux error numbers as a type: what every `unix-core` operation returns on
//! failure, and what the emulation library hands back to the program as
//! `-errno` in rax. The values come from `linux-raw-sys`.

use linux_raw_sys::errno as e;

/// A Linux error number (positive, as in `errno`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Errno(pub u32);

macro_rules! errnos {
    ($($name:ident),* $(,)?) => {
        impl Errno {
            $(pub const $name: Errno = Errno(e::$name);)*
        }
    };
}

errnos!(
    EPERM,
    ENOENT,
    ESRCH,
    EINTR,
    EIO,
    ENXIO,
    E2BIG,
    ENOEXEC,
    EBADF,
    ECHILD,
    EAGAIN,
    ENOMEM,
    EACCES,
    EFAULT,
    EBUSY,
    EEXIST,
    EXDEV,
    ENODEV,
    ENOTDIR,
    EISDIR,
    EINVAL,
    ENFILE,
    EMFILE,
    ENOTTY,
    ETXTBSY,
    EFBIG,
    ENOSPC,
    ESPIPE,
    EROFS,
    EMLINK,
    EPIPE,
    ERANGE,
    ENAMETOOLONG,
    ENOSYS,
    ENOTEMPTY,
    ELOOP,
    EOVERFLOW,
    EOPNOTSUPP,
);

impl Errno {
    /// The value a system call returns in rax for this error: `-errno`.
    pub fn as_return(self) -> i64 {
        -(self.0 as i64)
    }
}

/// The result of a Unix operation.
pub type Result<T> = core::result::Result<T, Errno>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_linuxs() {
        assert_eq!(Errno::ENOENT.0, 2);
        assert_eq!(Errno::EBADF.0, 9);
        assert_eq!(Errno::ENOSYS.0, 38);
        assert_eq!(Errno::EMFILE.as_return(), -24);
    }
}
