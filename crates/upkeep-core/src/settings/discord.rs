//! The `[discord]` settings typed for the interactions endpoint and `upkeep discord
//! commands`: the application's public key, id and bot token, where Discord's API is, and
//! which Discord users and roles act with which of upkeep's roles.

use super::{Settings, Value};

/// The Discord application upkeep answers for, and who may use it.
#[derive(Clone, PartialEq, Eq)]
pub struct Discord {
    /// The application's Ed25519 public key (32 bytes), when set.
    pub public_key: Option<[u8; 32]>,
    /// The application's id, when set.
    pub application_id: Option<String>,
    /// The bot token, when set (never shown: `Debug` leaves it out).
    pub bot_token: Option<String>,
    /// Discord's HTTP API, without a trailing `/`.
    pub api_base_url: String,
    /// User ids that act as owner.
    pub owner_ids: Vec<String>,
    /// Role ids whose members act as operator.
    pub admin_role_ids: Vec<String>,
    /// Role ids whose members act as viewer.
    pub viewer_role_ids: Vec<String>,
}

impl std::fmt::Debug for Discord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discord")
            .field("public_key", &self.public_key.map(hex::encode))
            .field("application_id", &self.application_id)
            .field("bot_token", &self.bot_token.as_ref().map(|_| "(set)"))
            .field("api_base_url", &self.api_base_url)
            .field("owner_ids", &self.owner_ids)
            .field("admin_role_ids", &self.admin_role_ids)
            .field("viewer_role_ids", &self.viewer_role_ids)
            .finish()
    }
}

impl Settings {
    /// The `[discord]` settings.
    pub fn discord(&self) -> Discord {
        let text = |key: &str| self.text(key).filter(|t| !t.is_empty()).map(str::to_owned);
        let list = |key: &str| match self.values.get(key) {
            Some(Value::List(items)) => items.clone(),
            _ => Vec::new(),
        };
        let public_key = text("discord.public_key")
            .and_then(|hex| hex::decode(hex).ok())
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok());
        Discord {
            public_key,
            application_id: text("discord.application_id"),
            bot_token: text("discord.bot_token"),
            api_base_url: text("discord.api_base_url")
                .unwrap_or_else(|| "https://discord.com/api/v10".to_owned()),
            owner_ids: list("discord.owner_ids"),
            admin_role_ids: list("discord.admin_role_ids"),
            viewer_role_ids: list("discord.viewer_role_ids"),
        }
    }
}
