"""Maker-checker approvals [双人复核] for golden-record edits and bulk exports, and export watermarks."""
