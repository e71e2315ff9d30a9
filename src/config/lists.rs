//! Lists in the configuration: a TOML array in a file, or one comma-separated string in an
//! environment variable.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

/// Accepts `["10.0.0.1", "10.0.0.2"]` from a file or `10.0.0.1,10.0.0.2` from an environment variable.
pub(super) fn ip_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<IpAddr>, D::Error> {
    list_items(deserializer)?
        .unwrap_or_default()
        .iter()
        .map(|s| {
            s.parse()
                .map_err(|_| serde::de::Error::custom(format!("{s:?} is not an IP address")))
        })
        .collect()
}

/// As [`ip_list`], for addresses and CIDR blocks (`10.0.0.5`, `192.0.2.0/24`, `2001:db8::/32`).
pub(super) fn net_list_or_unset<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<IpNet>>, D::Error> {
    let Some(items) = list_items(deserializer)? else {
        return Ok(None);
    };
    let blocks = items
        .iter()
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    serde::de::Error::custom(format!(
                        "{s:?} is neither an IP address nor a CIDR block like 192.0.2.0/24"
                    ))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(blocks))
}

/// The items of a list from a file, or of a comma-separated string from the environment; `None`
/// when unset.
fn list_items<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrString {
        List(Vec<String>),
        One(String),
    }
    let items = match Option::<ListOrString>::deserialize(deserializer)? {
        None => return Ok(None),
        Some(ListOrString::List(items)) => items,
        Some(ListOrString::One(text)) => text.split(',').map(str::to_owned).collect(),
    };
    Ok(Some(
        items
            .into_iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
    ))
}
