"""One module per dataset family: its FamilySpec (classes, columns, sources, domains)."""
