"""The program's rules: `values` (the kinds of value a rule holds, and the refusal messages),
`sections` (one pydantic model per context, composed into `ProgramRules`), `book` (`RuleBook`:
reading, caching and changing them in `program_rules`)."""
