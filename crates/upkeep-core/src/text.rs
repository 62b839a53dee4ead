//! Small rules for text shown to people. Counting nouns and an error as one line are in
//! [`crate::message`]; this module is for the rest.
