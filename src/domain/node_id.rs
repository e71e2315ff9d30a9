use std::fmt;

/// The name of one hotline node in a cluster (`node.id`): recorded on every CDR it answers, so
/// an operator can tell which machine carried a call and a survivor can tell whose calls it is
/// closing. 1 to 64 characters of letters, digits, `.`, `_` and `-`, like a host name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NodeId(String);

/// Why a node name was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NodeIdError {
    #[error("is empty")]
    Empty,
    #[error("is longer than {max} characters", max = NodeId::MAX_LEN)]
    TooLong,
    #[error("may hold only letters, digits, '.', '_' and '-' (found {0:?})")]
    BadCharacter(char),
}

impl NodeId {
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<NodeId, NodeIdError> {
        if raw.is_empty() {
            return Err(NodeIdError::Empty);
        }
        if raw.len() > NodeId::MAX_LEN {
            return Err(NodeIdError::TooLong);
        }
        if let Some(bad) = raw
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(NodeIdError::BadCharacter(bad));
        }
        Ok(NodeId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for NodeId {
    type Error = NodeIdError;

    fn try_from(raw: String) -> Result<NodeId, NodeIdError> {
        NodeId::parse(&raw)
    }
}

impl From<NodeId> for String {
    fn from(id: NodeId) -> String {
        id.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_node_names_and_odd_text_is_not() {
        for good in ["node-a", "hotline01.hcm.example", "A_1"] {
            assert_eq!(NodeId::parse(good).unwrap().as_str(), good);
        }
        assert_eq!(NodeId::parse(""), Err(NodeIdError::Empty));
        assert_eq!(NodeId::parse(&"n".repeat(65)), Err(NodeIdError::TooLong));
        assert_eq!(NodeId::parse("node a"), Err(NodeIdError::BadCharacter(' ')));
        assert_eq!(NodeId::parse("nút"), Err(NodeIdError::BadCharacter('ú')));
        assert_eq!(NodeId::parse("a,b"), Err(NodeIdError::BadCharacter(',')));
    }
}
