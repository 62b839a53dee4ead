//! Backup archives: tar streams (zstd, gzip or plain) with a SHA-256 of the archive and of
//! every entry, written durably and read as hostile input.
