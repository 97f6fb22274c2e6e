//! Reads the install values and the group policy from `HKLM` into [`Layer`]s. A missing key is
//! an empty layer (no policy deployed, or an agent installed without properties).

use anyhow::{Context, Result};
use winreg::enums::{RegType, HKEY_LOCAL_MACHINE, KEY_READ};
use winreg::types::FromRegValue;
use winreg::RegKey;

use super::policy::{Layer, RegValue, INSTALL_KEY, POLICY_KEY};

/// Both layers, lowest precedence first (the order [`super::policy::merge_all`] expects).
pub fn read_layers() -> Result<Vec<Layer>> {
    Ok(vec![read_key(INSTALL_KEY)?, read_key(POLICY_KEY)?])
}

fn read_key(path: &str) -> Result<Layer> {
    let origin = format!(r"HKLM\{path}");
    let mut layer = Layer::new(&origin);
    let key = match RegKey::predef(HKEY_LOCAL_MACHINE).open_subkey_with_flags(path, KEY_READ) {
        Ok(key) => key,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(layer),
        Err(e) => return Err(e).with_context(|| format!("cannot open {origin}")),
    };
    for entry in key.enum_values() {
        let (name, value) = entry.with_context(|| format!("cannot read a value of {origin}"))?;
        let read = match value.vtype {
            RegType::REG_SZ | RegType::REG_EXPAND_SZ => {
                String::from_reg_value(&value).map(RegValue::Text)
            }
            RegType::REG_DWORD => u32::from_reg_value(&value).map(RegValue::Number),
            RegType::REG_MULTI_SZ => Vec::<String>::from_reg_value(&value).map(RegValue::List),
            other => {
                tracing::warn!(key = %origin, value = %name, kind = ?other, "registry value of an unused type ignored");
                continue;
            }
        };
        let read = read.with_context(|| format!(r"cannot decode {origin}\{name}"))?;
        layer.insert(&name, read);
    }
    Ok(layer)
}
