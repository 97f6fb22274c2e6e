//! Limits a document must respect. The collector enforces them; the agent uses them to avoid
//! sending what would be refused.

/// Largest accepted request body once decompressed. A workstation with 5,000 packages is
/// about 1.5 MB of JSON; 16 MiB leaves room without letting one agent exhaust memory.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;
/// Largest accepted compressed body.
pub const MAX_COMPRESSED_BYTES: usize = 4 * 1024 * 1024;
pub const MAX_SOFTWARE: usize = 50_000;
pub const MAX_INTERFACES: usize = 1_024;
pub const MAX_ADDRESSES_PER_INTERFACE: usize = 256;
pub const MAX_DISKS: usize = 1_024;
pub const MAX_FILESYSTEMS: usize = 4_096;
pub const MAX_USERS: usize = 50_000;
pub const MAX_CPUS: usize = 1_024;
pub const MAX_DISCOVERED_HOSTS: usize = 1_048_576;
/// Longest accepted string field (names, versions, descriptions).
pub const MAX_FIELD_CHARS: usize = 4_096;
/// Bounds of one SNMP device document (`POST /api/v1/snmp`). A core switch has a few hundred
/// interfaces and tens of thousands of forwarding entries; these leave room for that.
pub const MAX_SNMP_INTERFACES: usize = 16_384;
pub const MAX_SNMP_ADDRESSES: usize = 16_384;
pub const MAX_FDB_ENTRIES: usize = 262_144;
pub const MAX_NEIGHBORS: usize = 4_096;
pub const MAX_ARP_ENTRIES: usize = 262_144;
pub const MAX_SNMP_STORAGE: usize = 4_096;
pub const MAX_PRINTER_SUPPLIES: usize = 256;
