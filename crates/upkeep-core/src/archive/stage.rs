//! Writing accepted members into staging directories, on a thread of its own.
//!
//! The reading thread decompresses, checks the rules, hashes each file and compares the
//! hash with the record; it sends [`Op`]s down a bounded channel. The writer thread
//! creates directories, files, symlinks and hardlinks, in member order, so the kernel's
//! file creation and writes overlap decompression and hashing. Buffers go back to the
//! reader through a second channel.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, SyncSender};

use fs_err::os::unix::fs::OpenOptionsExt;
use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, UtimensatFlags, fchmod, futimens, utimensat};
use nix::sys::time::TimeSpec;

use super::read::{BUF_SIZE, CopyError, Visit};
use super::{ArchiveError, EntryKind, Refusal};

/// Operations in flight between the threads (each holds up to [`BUF_SIZE`] bytes).
pub(crate) const QUEUE: usize = 16;

/// A directory's recorded owner, uid and gid (none for a parent the restore made itself).
type Owner = (u32, u32);

/// Owner, mode and mtime of a member.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Meta {
    mode: u32,
    mtime: i64,
    uid: u32,
    gid: u32,
}

/// One thing for the writer thread to do. `base` is the staged root of the member's
/// label and `rel` the member's path below it (empty for the root itself).
#[derive(Debug)]
pub(crate) enum Op {
    Dir {
        base: PathBuf,
        rel: String,
        meta: Meta,
    },
    File {
        base: PathBuf,
        rel: String,
        meta: Meta,
    },
    Data(Vec<u8>),
    EndFile,
    Symlink {
        base: PathBuf,
        rel: String,
        meta: Meta,
        target: String,
    },
    Hardlink {
        base: PathBuf,
        rel: String,
        source: String,
    },
    /// A FIFO or a device node.
    Special {
        base: PathBuf,
        rel: String,
        meta: Meta,
        kind: EntryKind,
        device: Option<(u32, u32)>,
    },
    /// Every member was read and checked: fix directories and sync.
    Finish,
}

/// The reading side: turns accepted members into [`Op`]s.
#[derive(Debug)]
pub(crate) struct Feeder {
    pub(crate) ops: SyncSender<Op>,
    pub(crate) buffers: Receiver<Vec<u8>>,
    /// Set when the writer thread hung up (it failed; its error is the one to report).
    pub(crate) writer_gone: bool,
}

impl Feeder {
    /// Send the operations for one member; `base` is its label's staged root.
    pub(crate) fn member(
        &mut self,
        m: &Visit<'_>,
        base: PathBuf,
        data: &mut dyn Read,
    ) -> Result<(), ArchiveError> {
        let path = m.accepted.path.as_str();
        let rel = path.split_once('/').map_or("", |(_, rel)| rel).to_owned();
        let meta = Meta {
            mode: m.mode,
            mtime: m.mtime,
            uid: m.uid,
            gid: m.gid,
        };
        let op = match (&m.accepted.hardlink_to, m.accepted.kind) {
            (Some(target), _) => Op::Hardlink {
                base,
                rel,
                source: target.split_once('/').map_or("", |(_, r)| r).to_owned(),
            },
            (None, EntryKind::Dir) => Op::Dir { base, rel, meta },
            (None, EntryKind::Symlink) => Op::Symlink {
                base,
                rel,
                meta,
                target: m.accepted.link.clone().unwrap_or_default(),
            },
            (None, EntryKind::File) => {
                self.send(Op::File { base, rel, meta })?;
                return self.file(m, data);
            }
            (None, kind @ (EntryKind::Fifo | EntryKind::CharDevice | EntryKind::BlockDevice)) => {
                Op::Special {
                    base,
                    rel,
                    meta,
                    kind,
                    device: m.device,
                }
            }
            // No member stands for a socket; nothing to write.
            (None, EntryKind::Socket) => return Ok(()),
        };
        self.send(op)
    }

    /// Stream a file's content in chunks, hashing it; compare with the record.
    fn file(&mut self, m: &Visit<'_>, data: &mut dyn Read) -> Result<(), ArchiveError> {
        let mut hasher = crate::digest::Hasher::new();
        let mut left = m.size;
        while left > 0 {
            let mut buf = self
                .buffers
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(BUF_SIZE));
            let want = BUF_SIZE.min(usize::try_from(left).unwrap_or(usize::MAX));
            buf.resize(want, 0);
            read_full(data, &mut buf).map_err(|e| e.into_error(m, Path::new("")))?;
            hasher.update(&buf);
            left -= want as u64;
            self.send(Op::Data(buf))?;
        }
        if let Some(recorded) = m.recorded_sha256
            && hasher.finish_hex() != recorded
        {
            return Err(ArchiveError::refused(
                m.accepted.path.clone(),
                Refusal::HashMismatch,
            ));
        }
        self.send(Op::EndFile)
    }

    /// Tell the writer that every member passed.
    pub(crate) fn finish(&mut self) -> Result<(), ArchiveError> {
        self.send(Op::Finish)
    }

    fn send(&mut self, op: Op) -> Result<(), ArchiveError> {
        self.ops.send(op).map_err(|_| {
            self.writer_gone = true;
            ArchiveError::refused("(writer)", Refusal::Corrupt("writer stopped".into()))
        })
    }
}

fn read_full(data: &mut dyn Read, buf: &mut [u8]) -> Result<(), CopyError> {
    let mut done = 0;
    while done < buf.len() {
        match data.read(&mut buf[done..]) {
            Ok(0) => return Err(CopyError::Short),
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(CopyError::Read(e)),
        }
    }
    Ok(())
}

/// The writing side, run on its own thread until the channel closes.
#[derive(Debug)]
pub(crate) struct StageWriter {
    /// Directories whose mode and mtime are set at the end (children first).
    dirs: Vec<(PathBuf, u32, i64, Option<Owner>)>,
    /// Directories created so far (the rules make every ancestor a directory).
    made: HashSet<PathBuf>,
    root: bool,
    /// The file being written, its path, bytes so far and metadata.
    file: Option<(fs_err::File, PathBuf, u64, Meta)>,
}

impl StageWriter {
    pub(crate) fn new() -> Self {
        Self {
            dirs: Vec::new(),
            made: HashSet::new(),
            root: nix::unistd::geteuid().is_root(),
            file: None,
        }
    }

    /// Apply every operation, then fix directory modes and mtimes and `syncfs` each
    /// staging directory. Stops at the first error (the reader then sees a closed channel).
    pub(crate) fn run(
        mut self,
        ops: Receiver<Op>,
        buffers: &Sender<Vec<u8>>,
        stage_dirs: &[PathBuf],
    ) -> Result<(), ArchiveError> {
        for op in ops {
            if let Op::Finish = op {
                return self.finish(stage_dirs);
            } else if let Op::Data(buf) = op {
                let (file, path, written, _) = self.file.as_mut().expect("data follows a file");
                file.write_all(&buf)
                    .map_err(ArchiveError::io("write", path))?;
                *written += buf.len() as u64;
                let _ = buffers.send(buf);
            } else {
                self.apply(op)?;
            }
        }
        // The reader stopped early (it reports why); the staging dirs are discarded.
        Ok(())
    }

    fn apply(&mut self, op: Op) -> Result<(), ArchiveError> {
        match op {
            Op::Dir { base, rel, meta } => {
                let dest = self.place(&base, &rel)?;
                if self.made.insert(dest.clone()) {
                    create_dir(&dest)?;
                }
                self.dirs
                    .push((dest, meta.mode, meta.mtime, Some((meta.uid, meta.gid))));
                Ok(())
            }
            Op::File { base, rel, meta } => {
                let dest = self.place(&base, &rel)?;
                let file = fs_err::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(nix::libc::O_NOFOLLOW)
                    .open(&dest)
                    .map_err(ArchiveError::io("create", &dest))?;
                self.set_meta(&file, &dest, meta)?;
                self.file = Some((file, dest, 0, meta));
                Ok(())
            }
            Op::EndFile => {
                // Starting writeback per file here (fadvise DONTNEED) was measured to make
                // restores twice as slow: it forces block allocation file by file.
                let (file, dest, _, meta) = self.file.take().expect("a file is open");
                let time = TimeSpec::new(meta.mtime, 0);
                futimens(&file, &time, &time)
                    .map_err(|e| ArchiveError::io("set mtime", &dest)(e.into()))
            }
            Op::Symlink {
                base,
                rel,
                meta,
                target,
            } => {
                let dest = self.place(&base, &rel)?;
                self.symlink(&dest, &target, meta)
            }
            Op::Hardlink { base, rel, source } => {
                let dest = self.place(&base, &rel)?;
                let source = if source.is_empty() {
                    base
                } else {
                    base.join(source)
                };
                fs_err::hard_link(&source, &dest).map_err(ArchiveError::io("link", &dest))
            }
            Op::Special {
                base,
                rel,
                meta,
                kind,
                device,
            } => {
                let dest = self.place(&base, &rel)?;
                self.special(&dest, kind, device, meta)
            }
            Op::Data(_) | Op::Finish => unreachable!("handled by run"),
        }
    }

    /// The destination of a member, with its missing ancestors created.
    fn place(&mut self, base: &Path, rel: &str) -> Result<PathBuf, ArchiveError> {
        if rel.is_empty() {
            return Ok(base.to_path_buf());
        }
        let mut dir = base.to_path_buf();
        let parents = rel.rsplit_once('/').map(|(parents, _)| parents);
        let mut components = parents.into_iter().flat_map(|p| p.split('/'));
        loop {
            if !self.made.contains(&dir) {
                create_dir(&dir)?;
                self.made.insert(dir.clone());
                self.dirs.push((dir.clone(), 0o755, -1, None));
            }
            match components.next() {
                Some(component) => dir.push(component),
                None => return Ok(base.join(rel)),
            }
        }
    }

    fn set_meta(&self, file: &fs_err::File, dest: &Path, meta: Meta) -> Result<(), ArchiveError> {
        if self.root {
            nix::unistd::fchown(file, Some(meta.uid.into()), Some(meta.gid.into()))
                .map_err(|e| ArchiveError::io("chown", dest)(e.into()))?;
        }
        fchmod(file, Mode::from_bits_truncate(self.mode(meta.mode)))
            .map_err(|e| ArchiveError::io("chmod", dest)(e.into()))
    }

    fn symlink(&self, dest: &Path, target: &str, meta: Meta) -> Result<(), ArchiveError> {
        fs_err::os::unix::fs::symlink(target, dest).map_err(ArchiveError::io("symlink", dest))?;
        if self.root {
            nix::unistd::fchownat(
                nix::fcntl::AT_FDCWD,
                dest,
                Some(meta.uid.into()),
                Some(meta.gid.into()),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(|e| ArchiveError::io("chown", dest)(e.into()))?;
        }
        let time = TimeSpec::new(meta.mtime, 0);
        utimensat(
            nix::fcntl::AT_FDCWD,
            dest,
            &time,
            &time,
            UtimensatFlags::NoFollowSymlink,
        )
        .map_err(|e| ArchiveError::io("set mtime", dest)(e.into()))
    }

    /// A FIFO or a device node (the caller refused devices unless running as root), with
    /// its owner (as root), mode and mtime. The node is new in the private staging
    /// directory, so nothing else can have put a link in its place.
    fn special(
        &self,
        dest: &Path,
        kind: EntryKind,
        device: Option<(u32, u32)>,
        meta: Meta,
    ) -> Result<(), ArchiveError> {
        use nix::sys::stat::{FchmodatFlags, SFlag, fchmodat, makedev, mknod};
        let (sflag, dev) = match (kind, device) {
            (EntryKind::CharDevice, Some((major, minor))) => {
                (SFlag::S_IFCHR, makedev(major.into(), minor.into()))
            }
            (EntryKind::BlockDevice, Some((major, minor))) => {
                (SFlag::S_IFBLK, makedev(major.into(), minor.into()))
            }
            _ => (SFlag::S_IFIFO, 0),
        };
        let failed = |action| move |e: nix::errno::Errno| ArchiveError::io(action, dest)(e.into());
        mknod(dest, sflag, Mode::from_bits_truncate(0o600), dev).map_err(failed("create"))?;
        if self.root {
            nix::unistd::fchownat(
                nix::fcntl::AT_FDCWD,
                dest,
                Some(meta.uid.into()),
                Some(meta.gid.into()),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(failed("chown"))?;
        }
        let mode = Mode::from_bits_truncate(self.mode(meta.mode));
        fchmodat(
            nix::fcntl::AT_FDCWD,
            dest,
            mode,
            FchmodatFlags::FollowSymlink,
        )
        .map_err(failed("chmod"))?;
        let time = TimeSpec::new(meta.mtime, 0);
        utimensat(
            nix::fcntl::AT_FDCWD,
            dest,
            &time,
            &time,
            UtimensatFlags::NoFollowSymlink,
        )
        .map_err(failed("set mtime"))
    }

    /// setuid and setgid are kept only when running as root.
    fn mode(&self, mode: u32) -> u32 {
        if self.root {
            mode & 0o7777
        } else {
            mode & 0o1777
        }
    }

    /// Directory owners (as root), modes and mtimes (children before parents), then one
    /// `syncfs`. A directory keeps its owner as its files do: a service's data directory
    /// owned by the service's user stays writable by it after a restore.
    fn finish(mut self, stage_dirs: &[PathBuf]) -> Result<(), ArchiveError> {
        self.dirs.sort_by(|a, b| b.0.cmp(&a.0));
        for (dir, mode, mtime, owner) in &self.dirs {
            let fd = fs_err::OpenOptions::new()
                .read(true)
                .custom_flags(OFlag::O_DIRECTORY.bits() | OFlag::O_NOFOLLOW.bits())
                .open(dir)
                .map_err(ArchiveError::io("open", dir))?;
            if let (true, Some((uid, gid))) = (self.root, owner) {
                nix::unistd::fchown(&fd, Some((*uid).into()), Some((*gid).into()))
                    .map_err(|e| ArchiveError::io("chown", dir)(e.into()))?;
            }
            fchmod(&fd, Mode::from_bits_truncate(self.mode(*mode)))
                .map_err(|e| ArchiveError::io("chmod", dir)(e.into()))?;
            if *mtime >= 0 {
                let time = TimeSpec::new(*mtime, 0);
                futimens(&fd, &time, &time)
                    .map_err(|e| ArchiveError::io("set mtime", dir)(e.into()))?;
            }
        }
        for dir in stage_dirs {
            let fd = fs_err::File::open(dir).map_err(ArchiveError::io("open", dir))?;
            nix::unistd::syncfs(&fd).map_err(|e| ArchiveError::io("sync", dir)(e.into()))?;
        }
        Ok(())
    }
}

pub(crate) fn create_dir(dir: &Path) -> Result<(), ArchiveError> {
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .map_err(ArchiveError::io("create directory", dir))
}
