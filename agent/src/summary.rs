//! The readable inventory summary `parc-agent inventory` prints for people.

use std::fmt::Write;

use parc_shared::identity::HardwareId;
use parc_shared::Inventory;

pub fn render(inv: &Inventory) -> String {
    let mut out = String::new();
    let h = &inv.host;
    let os = &inv.os;
    let hw = &inv.hardware;
    let _ = writeln!(
        out,
        "Host       {}",
        h.fqdn.as_deref().unwrap_or(&h.hostname)
    );
    let _ = writeln!(
        out,
        "OS         {} (kernel {}, {})",
        os.pretty_name
            .as_deref()
            .or(os.name.as_deref())
            .unwrap_or(&os.family),
        os.kernel.as_deref().unwrap_or("?"),
        os.arch
    );
    if hw.dmi_available {
        let _ = writeln!(
            out,
            "Hardware   {} {}",
            hw.manufacturer.as_deref().unwrap_or("?"),
            hw.model.as_deref().unwrap_or("?")
        );
        let _ = writeln!(out, "Serial     {}", id(&hw.serial));
        let _ = writeln!(out, "UUID       {}", id(&hw.uuid));
    } else {
        let _ = writeln!(
            out,
            "Hardware   no firmware (DMI/SMBIOS) tables on this platform"
        );
    }
    if let Some(cpu) = inv.cpus.first() {
        let _ = writeln!(
            out,
            "CPU        {} ({} socket(s), {} cores, {} threads)",
            cpu.model.as_deref().unwrap_or("?"),
            cpu.sockets,
            cpu.cores,
            cpu.threads
        );
    }
    let _ = writeln!(
        out,
        "Memory     {} (swap {})",
        bytes(inv.memory.total_bytes),
        bytes(inv.memory.swap_bytes)
    );
    for d in &inv.disks {
        let _ = writeln!(
            out,
            "Disk       {} {} {}",
            d.name,
            bytes(d.size_bytes),
            d.model.as_deref().unwrap_or("")
        );
    }
    for n in &inv.network.interfaces {
        let _ = writeln!(
            out,
            "Interface  {:<12} {:<17} {:<5} {}{}",
            n.name,
            n.mac.as_deref().unwrap_or("-"),
            n.state,
            n.addresses.join(" "),
            if n.is_virtual { " (virtual)" } else { "" }
        );
    }
    let _ = writeln!(out, "Software   {} packages", inv.software.len());
    let _ = writeln!(
        out,
        "Users      {} local, {} logged in",
        inv.users.local.len(),
        inv.users.logged_in.len()
    );
    out
}

fn id(value: &Option<HardwareId>) -> String {
    match value {
        None => "absent".to_string(),
        Some(v) if v.junk => format!("{} (placeholder, ignored for matching)", v.value),
        Some(v) => v.value.clone(),
    }
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_human() {
        assert_eq!(bytes(512), "512.0 B");
        assert_eq!(bytes(24_105 * 1024 * 1024), "23.5 GiB");
    }

    #[test]
    fn absent_and_junk_ids_are_said() {
        assert_eq!(id(&None), "absent");
        assert!(id(&HardwareId::serial("To be filled by O.E.M.")).contains("placeholder"));
    }
}
