"""Hot reload: routing artifacts (file mtime, S3 ETag) and the config (file or S3), never a restart."""
