//! Who a Discord user is to upkeep: the role the `[discord]` settings give a user id and
//! the guild roles it holds (the seed's permission table: a Bot Owner by user id, an
//! Administrator by role). The interactions endpoint asks this once per command, then
//! calls [`super::access::authorize`] with the command's action like every front end.

use super::Context;
use super::access::{Principal, PrincipalKind, Role};

/// The principal a Discord user acts as: owner when `discord.owner_ids` names the user,
/// else operator when it holds a role of `discord.admin_role_ids`, else viewer for a role
/// of `discord.viewer_role_ids`; `None` (refused) for anyone else.
pub fn principal(ctx: &Context, user_id: &str, roles: &[String]) -> Option<Principal> {
    let discord = &ctx.resolved().discord;
    let holds = |ids: &[String]| roles.iter().any(|r| ids.contains(r));
    let role = if discord.owner_ids.iter().any(|id| id == user_id) {
        Role::Owner
    } else if holds(&discord.admin_role_ids) {
        Role::Operator
    } else if holds(&discord.viewer_role_ids) {
        Role::Viewer
    } else {
        return None;
    };
    Some(Principal {
        kind: PrincipalKind::Discord,
        name: user_id.to_owned(),
        role,
    })
}
