"""The audit log [审计日志]: every access to customer data, append-only and hash-chained."""
