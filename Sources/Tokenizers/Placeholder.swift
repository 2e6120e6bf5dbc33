// Tokenizers target; see ../../../shared DESIGN notes in README.
