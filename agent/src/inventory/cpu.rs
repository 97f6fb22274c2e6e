//! Processors from /proc/cpuinfo: one entry per distinct model, with its socket, core and
//! thread counts.
//!
//! Sockets are distinct `physical id`s, cores distinct (`physical id`, `core id`) pairs,
//! threads the `processor` blocks. Kernels that print no topology (ARM, some hypervisors)
//! get one socket with one core per thread, which is what they expose to the OS.

use std::collections::{BTreeMap, BTreeSet};

use parc_shared::inventory::Cpu;

#[derive(Default)]
struct Group {
    vendor: Option<String>,
    family: Option<u32>,
    model_number: Option<u32>,
    stepping: Option<u32>,
    mhz: Option<f64>,
    sockets: BTreeSet<String>,
    cores: BTreeSet<(String, String)>,
    threads: u32,
}

pub fn parse_cpuinfo(text: &str, arch: &str) -> Vec<Cpu> {
    // Keyed by model name so that the (rare) mixed-socket machine keeps both models apart.
    let mut groups: BTreeMap<Option<String>, Group> = BTreeMap::new();
    for block in text.split("\n\n") {
        let fields: Vec<(&str, &str)> = block
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim(), v.trim()))
            .collect();
        let get = |key: &str| {
            fields
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| *v)
                .filter(|v| !v.is_empty())
        };
        if get("processor").is_none() {
            continue;
        }
        let model = get("model name")
            .or_else(|| get("Processor"))
            .or_else(|| get("cpu model"))
            .map(str::to_string);
        let g = groups.entry(model).or_default();
        g.threads += 1;
        g.vendor = g.vendor.take().or_else(|| {
            get("vendor_id")
                .or_else(|| get("CPU implementer"))
                .map(str::to_string)
        });
        g.family = g
            .family
            .or_else(|| get("cpu family").and_then(|v| v.parse().ok()));
        g.model_number = g
            .model_number
            .or_else(|| get("model").and_then(|v| v.parse().ok()));
        g.stepping = g
            .stepping
            .or_else(|| get("stepping").and_then(|v| v.parse().ok()));
        g.mhz = g
            .mhz
            .or_else(|| get("cpu MHz").and_then(|v| v.parse().ok()));
        if let Some(socket) = get("physical id") {
            g.sockets.insert(socket.to_string());
            if let Some(core) = get("core id") {
                g.cores.insert((socket.to_string(), core.to_string()));
            }
        }
    }
    groups
        .into_iter()
        .map(|(model, g)| Cpu {
            model,
            vendor: g.vendor,
            arch: arch.to_string(),
            sockets: (g.sockets.len() as u32).max(1),
            cores: if g.cores.is_empty() {
                g.threads
            } else {
                g.cores.len() as u32
            },
            threads: g.threads,
            frequency_mhz: g.mhz.map(|m| m.round() as u64),
            family: g.family,
            model_number: g.model_number,
            stepping: g.stepping,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dual-socket Xeon server, 2 cores per socket, hyper-threaded: 8 logical CPUs.
    fn two_socket_xeon() -> String {
        let mut text = String::new();
        let layout = [
            (0, 0),
            (0, 1),
            (1, 0),
            (1, 1),
            (0, 0),
            (0, 1),
            (1, 0),
            (1, 1),
        ];
        for (n, (socket, core)) in layout.iter().enumerate() {
            text.push_str(&format!(
                "processor\t: {n}\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\n\
model name\t: Intel(R) Xeon(R) Silver 4214 CPU @ 2.20GHz\nstepping\t: 7\nmicrocode\t: 0x5003604\n\
cpu MHz\t\t: 2199.998\ncache size\t: 16896 KB\nphysical id\t: {socket}\nsiblings\t: 4\n\
core id\t\t: {core}\ncpu cores\t: 2\napicid\t\t: {n}\nflags\t\t: fpu vme de pse tsc msr\n\n"
            ));
        }
        text
    }

    const EPYC_VM: &str = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\n\
model name\t: AMD EPYC\nstepping\t: 1\ncpu MHz\t\t: 2445.406\nphysical id\t: 0\nsiblings\t: 2\ncore id\t\t: 0\n\
cpu cores\t: 2\n\nprocessor\t: 1\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\n\
model name\t: AMD EPYC\nstepping\t: 1\ncpu MHz\t\t: 2445.406\nphysical id\t: 0\nsiblings\t: 2\ncore id\t\t: 1\n\
cpu cores\t: 2\n\n";

    /// Raspberry Pi 4 style: no model name, vendor, topology or MHz per processor.
    const ARM: &str = "processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n\
CPU implementer\t: 0x41\nCPU architecture: 8\nCPU part\t: 0xd08\n\nprocessor\t: 1\nBogoMIPS\t: 108.00\n\
CPU implementer\t: 0x41\n\nHardware\t: BCM2835\nRevision\t: c03111\n";

    #[test]
    fn table() {
        let xeon = Cpu {
            model: Some("Intel(R) Xeon(R) Silver 4214 CPU @ 2.20GHz".into()),
            vendor: Some("GenuineIntel".into()),
            arch: "x86_64".into(),
            sockets: 2,
            cores: 4,
            threads: 8,
            frequency_mhz: Some(2200),
            family: Some(6),
            model_number: Some(85),
            stepping: Some(7),
        };
        let epyc = Cpu {
            model: Some("AMD EPYC".into()),
            vendor: Some("AuthenticAMD".into()),
            arch: "x86_64".into(),
            sockets: 1,
            cores: 2,
            threads: 2,
            frequency_mhz: Some(2445),
            family: Some(25),
            model_number: Some(1),
            stepping: Some(1),
        };
        let arm = Cpu {
            model: None,
            vendor: Some("0x41".into()),
            arch: "aarch64".into(),
            sockets: 1,
            cores: 2,
            threads: 2,
            ..Default::default()
        };
        let cases = [
            (two_socket_xeon(), "x86_64", vec![xeon]),
            (EPYC_VM.to_string(), "x86_64", vec![epyc]),
            (ARM.to_string(), "aarch64", vec![arm]),
            (String::new(), "x86_64", vec![]),
        ];
        for (text, arch, want) in cases {
            assert_eq!(parse_cpuinfo(&text, arch), want, "{text}");
        }
    }
}
