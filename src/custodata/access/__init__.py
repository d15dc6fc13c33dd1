"""Access decisions [访问控制]: policies as data, one engine for every path."""
