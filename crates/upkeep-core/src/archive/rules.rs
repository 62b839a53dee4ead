//! The member rules of the module documentation, as one checker fed member by member.
//! Both [`super::create`] (on what it writes) and the reader (on what it reads) use it, so
//! an archive that passes one passes the other.

use std::collections::{HashMap, HashSet};

use super::{ArchiveError, Entry, EntryKind, INDEX_NAME, Refusal};

/// Extra decompressed bytes allowed per member beyond file content: a header, long-name
/// blocks for a path and a link target of up to 4 KiB each, and padding.
pub(crate) const OVERHEAD_PER_MEMBER: u64 = 16 * 1024;
/// Extra decompressed bytes allowed per archive: the index and the end-of-archive blocks.
pub(crate) const OVERHEAD_BASE: u64 = 1024 * 1024;
/// The most members an archive without recorded entries may have (bounds memory).
pub(crate) const MAX_MEMBERS: u64 = 1 << 22;
/// The largest index accepted.
pub(crate) const MAX_INDEX_BYTES: u64 = 64 * 1024;

/// What a member claims to be, before any rule is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawKind {
    File,
    Dir,
    Symlink,
    Hardlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Other(u8),
}

/// One member as read from a header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Member<'a> {
    pub(crate) path: &'a [u8],
    pub(crate) kind: RawKind,
    pub(crate) link: Option<&'a [u8]>,
    pub(crate) size: u64,
    pub(crate) mode: u32,
    /// A device's major and minor numbers.
    pub(crate) device: Option<(u32, u32)>,
}

/// A member that passed the rules.
#[derive(Debug, Clone)]
pub(crate) struct Accepted {
    /// The normalized path, `label` or `label/rel`.
    pub(crate) path: String,
    pub(crate) kind: EntryKind,
    /// For a hardlink, the earlier file it links to (normalized).
    pub(crate) hardlink_to: Option<String>,
    /// For a symlink, its target.
    pub(crate) link: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Dir,
    ImpliedDir,
    File {
        size: u64,
    },
    Symlink,
    /// A FIFO or device: nothing may be below it, nothing may link to it.
    Special,
}

/// The rules' state across one pass over an archive.
#[derive(Debug)]
pub(crate) struct Rules<'r> {
    labels: HashSet<String>,
    seen: HashMap<String, Seen>,
    content: u64,
    max_bytes: u64,
    members: u64,
    max_members: u64,
    records: Option<Records<'r>>,
    /// Accept any symlink target, FIFO and device (the writer: it stores the tree as it
    /// is and records every member, so a later restore can check each one against the
    /// record).
    any_link: bool,
}

impl<'r> Rules<'r> {
    /// Rules for writing an archive of a live tree: every structural rule applies, but a
    /// symlink may point anywhere (absolute links in `/etc` or service data are normal).
    pub(crate) fn for_writing(labels: impl IntoIterator<Item = String>) -> Self {
        Self {
            any_link: true,
            ..Self::new(labels, u64::MAX, None)
        }
    }

    /// Whether a symlink that leaves its root is nonetheless what the ledger recorded at
    /// backup time (then restoring it puts back the tree as it was), or we are writing.
    fn link_recorded(&self, path: &str, target: &[u8]) -> bool {
        if self.any_link {
            return true;
        }
        let Some(records) = &self.records else {
            return false;
        };
        records.by_path.get(path).is_some_and(|(record, _)| {
            record.kind == EntryKind::Symlink
                && record.link.as_deref().map(str::as_bytes) == Some(target)
        })
    }

    /// Whether a FIFO or device member is what the ledger recorded at backup time (same
    /// path, kind and device numbers), or we are writing. An archive without records may
    /// hold none: a forged one cannot make a restore create a device.
    fn special_recorded(&self, path: &str, kind: EntryKind, device: Option<(u32, u32)>) -> bool {
        if self.any_link {
            return true;
        }
        let Some(records) = &self.records else {
            return false;
        };
        records
            .by_path
            .get(path)
            .is_some_and(|(record, _)| record.kind == kind && record.device == device)
    }

    pub(crate) fn new(
        labels: impl IntoIterator<Item = String>,
        max_bytes: u64,
        records: Option<&'r [Entry]>,
    ) -> Self {
        let records = records.map(Records::new);
        let max_members = records
            .as_ref()
            .map_or(MAX_MEMBERS, |r| r.by_path.len() as u64);
        Self {
            labels: labels.into_iter().collect(),
            seen: HashMap::new(),
            content: 0,
            max_bytes,
            members: 0,
            max_members,
            records,
            any_link: false,
        }
    }

    /// The decompressed stream length allowed so far: grows with each accepted member.
    pub(crate) fn stream_allowance(&self) -> u64 {
        self.max_bytes
            .saturating_add(OVERHEAD_BASE)
            .saturating_add(OVERHEAD_PER_MEMBER.saturating_mul(self.members + 1))
    }

    /// File content accepted so far.
    pub(crate) fn content_bytes(&self) -> u64 {
        self.content
    }

    /// Check one member against every rule (and the records, if any).
    pub(crate) fn check(&mut self, member: &Member<'_>) -> Result<Accepted, ArchiveError> {
        let lossy = || String::from_utf8_lossy(member.path).into_owned();
        let path = normalize(member.path).map_err(|r| ArchiveError::refused(lossy(), r))?;
        let refuse = |reason| ArchiveError::refused(path.clone(), reason);
        self.members += 1;
        if self.members > self.max_members {
            return Err(refuse(if self.records.is_some() {
                Refusal::NotRecorded
            } else {
                Refusal::TooManyEntries
            }));
        }
        let label = path.split('/').next().unwrap_or_default();
        if !self.labels.contains(label) {
            return Err(refuse(Refusal::UnknownLabel));
        }
        let kind = self.entry_kind(&path, member).map_err(refuse)?;
        self.check_ancestors(&path).map_err(refuse)?;
        self.check_duplicate(&path, kind).map_err(refuse)?;
        let (seen, hardlink_to, link) = self.check_kind(&path, member).map_err(refuse)?;
        if let Seen::File { size } = seen
            && member.kind == RawKind::File
        {
            self.content = self.content.saturating_add(size);
            if self.content > self.max_bytes {
                return Err(refuse(Refusal::TooManyBytes));
            }
        }
        if let Some(records) = &mut self.records {
            let size = match seen {
                Seen::File { size } => size,
                _ => 0,
            };
            let device = kind.is_device().then_some(member.device).flatten();
            records
                .check(&path, kind, size, member.mode, link.as_deref(), device)
                .map_err(refuse)?;
        }
        self.seen.insert(path.clone(), seen);
        Ok(Accepted {
            path,
            kind,
            hardlink_to,
            link,
        })
    }

    /// What a member is, refusing member types upkeep never writes and FIFOs and devices
    /// the ledger did not record.
    fn entry_kind(&self, path: &str, member: &Member<'_>) -> Result<EntryKind, Refusal> {
        let (kind, refusal) = match member.kind {
            RawKind::File | RawKind::Hardlink => return Ok(EntryKind::File),
            RawKind::Dir => return Ok(EntryKind::Dir),
            RawKind::Symlink => return Ok(EntryKind::Symlink),
            RawKind::Other(t) => {
                return Err(Refusal::UnsupportedType(format!("{:?}", char::from(t))));
            }
            RawKind::CharDevice => (EntryKind::CharDevice, Refusal::DeviceNode),
            RawKind::BlockDevice => (EntryKind::BlockDevice, Refusal::DeviceNode),
            RawKind::Fifo => (EntryKind::Fifo, Refusal::Fifo),
        };
        let device = kind.is_device().then_some(member.device).flatten();
        if self.special_recorded(path, kind, device) {
            Ok(kind)
        } else {
            Err(refusal)
        }
    }

    /// At the end of a pass: every recorded entry must have been seen.
    pub(crate) fn finish(&self) -> Result<(), ArchiveError> {
        match &self.records {
            Some(records) => records.finish(),
            None => Ok(()),
        }
    }

    /// Whether `path` was a member of its own (not only implied by members below it).
    pub(crate) fn has_member(&self, path: &str) -> bool {
        matches!(self.seen.get(path), Some(s) if *s != Seen::ImpliedDir)
    }

    /// The recorded hash of a file, when entries were recorded.
    pub(crate) fn recorded_sha256(&self, path: &str) -> Option<&'r str> {
        let records = self.records.as_ref()?;
        records.by_path.get(path)?.0.sha256.as_deref()
    }

    /// Every ancestor must be a directory (stated or implied); implied ones are noted.
    fn check_ancestors(&mut self, path: &str) -> Result<(), Refusal> {
        for (i, _) in path.match_indices('/') {
            let ancestor = &path[..i];
            match self.seen.get(ancestor) {
                Some(Seen::Symlink) => return Err(Refusal::ThroughSymlink),
                Some(Seen::File { .. } | Seen::Special) => {
                    return Err(Refusal::ParentNotDirectory);
                }
                Some(Seen::Dir | Seen::ImpliedDir) => {}
                None => {
                    self.seen.insert(ancestor.to_owned(), Seen::ImpliedDir);
                }
            }
        }
        Ok(())
    }

    fn check_duplicate(&self, path: &str, kind: EntryKind) -> Result<(), Refusal> {
        match self.seen.get(path) {
            None => Ok(()),
            Some(Seen::ImpliedDir) if kind == EntryKind::Dir => Ok(()),
            Some(_) => Err(Refusal::DuplicatePath),
        }
    }

    /// Kind-specific rules; returns what to remember, a hardlink's target and a symlink's.
    fn check_kind(
        &self,
        path: &str,
        member: &Member<'_>,
    ) -> Result<(Seen, Option<String>, Option<String>), Refusal> {
        match member.kind {
            RawKind::Dir => Ok((Seen::Dir, None, None)),
            RawKind::File => Ok((Seen::File { size: member.size }, None, None)),
            RawKind::Symlink => {
                let raw = member.link.unwrap_or_default();
                let target = match check_symlink(path, raw) {
                    Err(Refusal::SymlinkEscapes) if self.link_recorded(path, raw) => {
                        String::from_utf8(raw.to_vec()).map_err(|_| Refusal::NotUtf8)?
                    }
                    checked => checked?,
                };
                Ok((Seen::Symlink, None, Some(target)))
            }
            RawKind::Hardlink => {
                let target = member.link.unwrap_or_default();
                let target = normalize(target).map_err(|_| Refusal::HardlinkOutside)?;
                let same_label = target.split('/').next() == path.split('/').next();
                match self.seen.get(&target) {
                    Some(&Seen::File { size }) if same_label => {
                        Ok((Seen::File { size }, Some(target), None))
                    }
                    _ => Err(Refusal::HardlinkOutside),
                }
            }
            RawKind::CharDevice | RawKind::BlockDevice | RawKind::Fifo => {
                Ok((Seen::Special, None, None))
            }
            RawKind::Other(_) => unreachable!("refused before"),
        }
    }
}

/// Normalize a member name: drop `.` and empty components; refuse NUL, empty, absolute,
/// `..` and non-UTF-8 names, and the index name anywhere but first.
pub(crate) fn normalize(raw: &[u8]) -> Result<String, Refusal> {
    if raw.contains(&0) {
        return Err(Refusal::NulInName);
    }
    if raw.first() == Some(&b'/') {
        return Err(Refusal::AbsolutePath);
    }
    if raw.split(|b| *b == b'/').any(|c| c == b"..") {
        return Err(Refusal::Traversal);
    }
    let text = std::str::from_utf8(raw).map_err(|_| Refusal::NotUtf8)?;
    let mut out = String::with_capacity(text.len());
    for component in text.split('/').filter(|c| !c.is_empty() && *c != ".") {
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(component);
    }
    if out.is_empty() {
        Err(Refusal::EmptyName)
    } else {
        Ok(out)
    }
}

/// A symlink at `path` (normalized) may point to `target` if the target is relative and
/// stays inside the label's root lexically, with every `..` before the first normal
/// component (so no `..` is applied to a component that might itself be a symlink).
/// The root itself (`path` is just the label) may point anywhere.
pub(crate) fn check_symlink(path: &str, target: &[u8]) -> Result<String, Refusal> {
    if target.contains(&0) {
        return Err(Refusal::NulInName);
    }
    let text = std::str::from_utf8(target).map_err(|_| Refusal::NotUtf8)?;
    if text.is_empty() {
        return Err(Refusal::SymlinkEscapes);
    }
    let Some(slash) = path.find('/') else {
        return Ok(text.to_owned());
    };
    if text.starts_with('/') {
        return Err(Refusal::SymlinkEscapes);
    }
    // Directories between the root and the link: where a leading `..` can climb to.
    let mut depth = path[slash + 1..].matches('/').count();
    let mut descended = false;
    for component in text.split('/') {
        match component {
            "" | "." => {}
            ".." if descended || depth == 0 => return Err(Refusal::SymlinkEscapes),
            ".." => depth -= 1,
            _ => descended = true,
        }
    }
    Ok(text.to_owned())
}

/// Check a root label: one UTF-8 component, not reserved.
pub(crate) fn check_label(label: &str) -> Result<(), &'static str> {
    if label.is_empty() {
        Err("is empty")
    } else if label == "." || label == ".." {
        Err("is `.` or `..`")
    } else if label.contains(['/', '\0', '\n']) {
        Err("contains `/`, NUL or a newline")
    } else if label.starts_with(".upkeep") {
        Err("starts with `.upkeep`, which is reserved")
    } else {
        Ok(())
    }
}

/// Whether a root is recorded as present or missing in the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Index {
    pub(crate) roots: Vec<(String, bool)>,
}

const INDEX_HEADER: &str = "upkeep-archive 1";

impl Index {
    pub(crate) fn render(&self) -> String {
        let mut out = format!("{INDEX_HEADER}\n");
        for (label, present) in &self.roots {
            let state = if *present { "present" } else { "missing" };
            out.push_str(state);
            out.push(' ');
            out.push_str(label);
            out.push('\n');
        }
        out
    }

    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, ArchiveError> {
        let corrupt = |what: &str| ArchiveError::refused(INDEX_NAME, Refusal::Corrupt(what.into()));
        let text = std::str::from_utf8(bytes).map_err(|_| corrupt("index is not UTF-8"))?;
        let mut lines = text.strip_suffix('\n').unwrap_or(text).split('\n');
        if lines.next() != Some(INDEX_HEADER) {
            return Err(corrupt("unknown index version"));
        }
        let mut roots: Vec<(String, bool)> = Vec::new();
        for line in lines {
            let (present, label) = match line.split_once(' ') {
                Some(("present", label)) => (true, label),
                Some(("missing", label)) => (false, label),
                _ => return Err(corrupt("malformed index line")),
            };
            if check_label(label).is_err() || roots.iter().any(|(l, _)| l == label) {
                return Err(corrupt("invalid or repeated label in index"));
            }
            roots.push((label.to_owned(), present));
        }
        Ok(Self { roots })
    }
}

/// The recorded entries and which of them were seen.
#[derive(Debug)]
struct Records<'r> {
    by_path: HashMap<&'r str, (&'r Entry, bool)>,
}

impl<'r> Records<'r> {
    fn new(entries: &'r [Entry]) -> Self {
        Self {
            by_path: entries
                .iter()
                .map(|e| (e.path.as_str(), (e, false)))
                .collect(),
        }
    }

    fn check(
        &mut self,
        path: &str,
        kind: EntryKind,
        size: u64,
        mode: u32,
        link: Option<&str>,
        device: Option<(u32, u32)>,
    ) -> Result<(), Refusal> {
        let Some((record, seen)) = self.by_path.get_mut(path) else {
            return Err(Refusal::NotRecorded);
        };
        *seen = true;
        if record.kind != kind || record.device != device {
            Err(Refusal::KindMismatch)
        } else if record.size != size {
            Err(Refusal::SizeMismatch)
        } else if kind != EntryKind::Symlink && record.mode != mode & 0o7777 {
            Err(Refusal::ModeMismatch)
        } else if record.link.as_deref() != link {
            Err(Refusal::LinkMismatch)
        } else {
            Ok(())
        }
    }

    fn finish(&self) -> Result<(), ArchiveError> {
        let mut missing: Vec<&str> = self
            .by_path
            .iter()
            // A socket is recorded but has no member: it is not kept.
            .filter(|(_, (record, seen))| !seen && record.kind != EntryKind::Socket)
            .map(|(path, _)| *path)
            .collect();
        missing.sort_unstable();
        match missing.first() {
            Some(path) => Err(ArchiveError::refused(*path, Refusal::MissingEntry)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member<'a>(path: &'a str, kind: RawKind, link: Option<&'a str>) -> Member<'a> {
        Member {
            path: path.as_bytes(),
            kind,
            link: link.map(str::as_bytes),
            size: 10,
            mode: 0o644,
            device: None,
        }
    }

    fn rules() -> Rules<'static> {
        Rules::new(["etc".to_owned(), "var".to_owned()], 1000, None)
    }

    fn refusal(rules: &mut Rules<'_>, m: &Member<'_>) -> Refusal {
        rules.check(m).unwrap_err().refusal().unwrap().clone()
    }

    #[test]
    fn names_are_normalized_or_refused() {
        assert_eq!(normalize(b"etc/./a//b/").unwrap(), "etc/a/b");
        assert_eq!(normalize(b"./etc").unwrap(), "etc");
        assert_eq!(normalize(b"etc/../x"), Err(Refusal::Traversal));
        assert_eq!(normalize(b".."), Err(Refusal::Traversal));
        assert_eq!(normalize(b"/etc/passwd"), Err(Refusal::AbsolutePath));
        assert_eq!(normalize(b"etc/a\0b"), Err(Refusal::NulInName));
        assert_eq!(normalize(b""), Err(Refusal::EmptyName));
        assert_eq!(normalize(b"./"), Err(Refusal::EmptyName));
        assert_eq!(normalize(b"etc/\xff"), Err(Refusal::NotUtf8));
        assert_eq!(normalize("etc/é x".as_bytes()).unwrap(), "etc/é x");
    }

    #[test]
    fn symlinks_must_stay_inside_their_root() {
        let ok = |p: &str, t: &str| check_symlink(p, t.as_bytes()).is_ok();
        assert!(ok("etc/a", "b"));
        assert!(ok("etc/a", "."));
        assert!(ok("etc/d/a", "../b"));
        assert!(ok("etc/d/e/a", "../../b/c"));
        assert!(ok("etc", "/usr/share/zoneinfo/UTC"), "the root itself");
        assert!(!ok("etc/a", ".."));
        assert!(!ok("etc/d/a", "../../x"));
        assert!(!ok("etc/a", "/etc/passwd"));
        assert!(!ok("etc/a", "b/../c"), "`..` after a component");
        assert!(!ok("etc/a", ""));
        assert_eq!(check_symlink("etc/a", b"b\0"), Err(Refusal::NulInName));
    }

    #[test]
    fn structure_rules() {
        use RawKind::{BlockDevice, CharDevice, Dir, Fifo, File, Hardlink, Other, Symlink};
        let mut r = rules();
        r.check(&member("etc", Dir, None)).unwrap();
        r.check(&member("etc/link", Symlink, Some("sub"))).unwrap();
        r.check(&member("etc/f", File, None)).unwrap();
        r.check(&member("etc/deep/er/f", File, None)).unwrap();
        r.check(&member("etc/deep", Dir, None)).unwrap();
        let cases = [
            (member("etc/link/x", File, None), Refusal::ThroughSymlink),
            (member("etc/f/x", File, None), Refusal::ParentNotDirectory),
            (member("etc/./f", File, None), Refusal::DuplicatePath),
            (member("etc/deep", Dir, None), Refusal::DuplicatePath),
            (member("etc/deep/er", File, None), Refusal::DuplicatePath),
            (member("usr/x", File, None), Refusal::UnknownLabel),
            (member("etc/dev", CharDevice, None), Refusal::DeviceNode),
            (member("etc/blk", BlockDevice, None), Refusal::DeviceNode),
            (member("etc/p", Fifo, None), Refusal::Fifo),
            (
                member("etc/h", Hardlink, Some("/etc/passwd")),
                Refusal::HardlinkOutside,
            ),
            (
                member("etc/h", Hardlink, Some("../x")),
                Refusal::HardlinkOutside,
            ),
            (
                member("etc/h", Hardlink, Some("etc/deep")),
                Refusal::HardlinkOutside,
            ),
            (
                member("var/h", Hardlink, Some("etc/f")),
                Refusal::HardlinkOutside,
            ),
            (
                member("etc/s", Other(b'S'), None),
                Refusal::UnsupportedType("'S'".into()),
            ),
        ];
        for (m, expected) in cases {
            assert_eq!(refusal(&mut r, &m), expected, "{m:?}");
        }
        r.check(&member("etc/h", Hardlink, Some("./etc/f")))
            .unwrap();
        assert_eq!(r.content_bytes(), 20, "a hardlink adds no content");
    }

    #[test]
    fn content_is_limited() {
        let mut r = Rules::new(["etc".to_owned()], 25, None);
        r.check(&member("etc/a", RawKind::File, None)).unwrap();
        r.check(&member("etc/b", RawKind::File, None)).unwrap();
        let m = member("etc/c", RawKind::File, None);
        assert_eq!(refusal(&mut r, &m), Refusal::TooManyBytes);
    }

    #[test]
    fn records_must_match_exactly() {
        let rec = |path: &str, size| Entry {
            path: path.into(),
            kind: EntryKind::File,
            mode: 0o644,
            size,
            sha256: Some("00".into()),
            link: None,
            device: None,
        };
        let root = Entry {
            kind: EntryKind::Dir,
            size: 0,
            sha256: None,
            ..rec("etc", 0)
        };
        let records = [root, rec("etc/a", 10), rec("etc/b", 11)];
        let mut r = Rules::new(["etc".to_owned()], 1000, Some(&records));
        r.check(&member("etc", RawKind::Dir, None)).unwrap();
        let m = member("etc/b", RawKind::File, None);
        assert_eq!(refusal(&mut r, &m), Refusal::SizeMismatch);
        let m = member("etc/zz", RawKind::File, None);
        assert_eq!(refusal(&mut r, &m), Refusal::NotRecorded);
        let mut r = Rules::new(["etc".to_owned()], 1000, Some(&records));
        r.check(&member("etc", RawKind::Dir, None)).unwrap();
        let m = member("etc", RawKind::Dir, None);
        assert_eq!(refusal(&mut r, &m), Refusal::DuplicatePath);
        let err = r.finish().unwrap_err();
        assert!(matches!(
            err,
            ArchiveError::Refused { entry, reason: Refusal::MissingEntry } if entry == "etc/a"
        ));
    }

    /// A FIFO or device is accepted only where the ledger recorded it, with the same kind
    /// and device numbers: a forged archive cannot make a restore create a device.
    #[test]
    fn specials_must_be_recorded() {
        let special = |path: &str, kind, device| Entry {
            path: path.into(),
            kind,
            mode: 0o644,
            size: 0,
            sha256: None,
            link: None,
            device,
        };
        let dir = Entry {
            kind: EntryKind::Dir,
            ..special("etc", EntryKind::Dir, None)
        };
        let records = [
            dir,
            special("etc/null", EntryKind::CharDevice, Some((1, 3))),
            special("etc/pipe", EntryKind::Fifo, None),
            special("etc/sock", EntryKind::Socket, None),
        ];
        let device = |path, device| Member {
            device,
            ..member(path, RawKind::CharDevice, None)
        };
        let mut r = Rules::new(["etc".to_owned()], 1000, Some(&records));
        r.check(&member("etc", RawKind::Dir, None)).unwrap();
        let m = device("etc/null", Some((8, 0)));
        assert_eq!(refusal(&mut r, &m), Refusal::DeviceNode, "other numbers");
        let mut r = Rules::new(["etc".to_owned()], 1000, Some(&records));
        r.check(&member("etc", RawKind::Dir, None)).unwrap();
        r.check(&device("etc/null", Some((1, 3)))).unwrap();
        r.check(&member("etc/pipe", RawKind::Fifo, None)).unwrap();
        let m = member("etc/pipe/x", RawKind::File, None);
        assert_eq!(refusal(&mut r, &m), Refusal::ParentNotDirectory);
        let m = member("etc/h", RawKind::Hardlink, Some("etc/pipe"));
        assert_eq!(refusal(&mut r, &m), Refusal::NotRecorded);
        r.finish().expect("a recorded socket needs no member");
        let m = device("etc/other", Some((1, 3)));
        let mut r = Rules::new(["etc".to_owned()], 1000, None);
        assert_eq!(refusal(&mut r, &m), Refusal::DeviceNode);
    }

    #[test]
    fn index_round_trips_and_rejects_bad_labels() {
        let index = Index {
            roots: vec![("etc".into(), true), ("gone".into(), false)],
        };
        assert_eq!(Index::parse(index.render().as_bytes()).unwrap(), index);
        for bad in [
            "upkeep-archive 2\n",
            "upkeep-archive 1\npresent ..\n",
            "upkeep-archive 1\npresent a\nmissing a\n",
            "upkeep-archive 1\nmaybe a\n",
        ] {
            assert!(Index::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(check_label("a/b").is_err());
        assert!(check_label(".upkeep-roots").is_err());
        assert!(check_label("nginx conf").is_ok());
    }
}
