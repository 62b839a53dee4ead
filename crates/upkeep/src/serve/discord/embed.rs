//! Discord embeds as the seed's cog sends them: a title with its emoji, a colour, a
//! description, fields and a footer.

/// Success.
pub(crate) const GREEN: u32 = 0x002E_CC71;
/// Information.
pub(crate) const BLUE: u32 = 0x0034_98DB;
/// Done, with something to look at.
pub(crate) const ORANGE: u32 = 0x00F3_9C12;
/// Failure or refusal.
pub(crate) const RED: u32 = 0x00E7_4C3C;

/// Discord's limits: a field's value, a description.
const FIELD_MAX: usize = 1024;
const DESCRIPTION_MAX: usize = 4096;

/// One embed.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Embed {
    title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
    color: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    fields: Vec<Field>,
    #[serde(skip_serializing_if = "Option::is_none")]
    footer: Option<Footer>,
}

#[derive(Debug, Clone, serde::Serialize)]
struct Field {
    name: String,
    value: String,
    inline: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
struct Footer {
    text: String,
}

/// `text` cut to `max` characters, marked when cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut kept: String = text.chars().take(max - 1).collect();
    kept.push('…');
    kept
}

impl Embed {
    pub(crate) fn new(title: &str, color: u32) -> Self {
        Self {
            title: title.to_owned(),
            description: String::new(),
            color,
            fields: Vec::new(),
            footer: None,
        }
    }

    #[must_use]
    pub(crate) fn describe(mut self, text: &str) -> Self {
        self.description = cut(text, DESCRIPTION_MAX);
        self
    }

    /// A short inline field.
    #[must_use]
    pub(crate) fn field(mut self, name: &str, value: String) -> Self {
        let value = if value.is_empty() {
            "-".to_owned()
        } else {
            value
        };
        self.fields.push(Field {
            name: name.to_owned(),
            value: cut(&value, FIELD_MAX),
            inline: true,
        });
        self
    }

    /// A field of several lines, full width.
    #[must_use]
    pub(crate) fn block(mut self, name: &str, lines: &[String]) -> Self {
        self.fields.push(Field {
            name: name.to_owned(),
            value: cut(&lines.join("\n"), FIELD_MAX),
            inline: false,
        });
        self
    }

    #[must_use]
    pub(crate) fn footer(mut self, text: String) -> Self {
        self.footer = Some(Footer { text });
        self
    }
}
