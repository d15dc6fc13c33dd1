"""Who people are: staff, outsourced agents and partners, their roles, branches, portfolios and sessions."""
