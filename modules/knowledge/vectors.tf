################################################################################
# Vector store (optional)
################################################################################

# For scale: S3 Vectors, one index a knowledge base (README: why S3 Vectors). Off by default; the default store is
# the embedded index file in the artifacts bucket that the service loads like a model. Vectors get a key of their
# own: S3 Vectors' background indexing decrypts them as its own service principal, which the data key's policy
# does not (and need not) admit.

resource "aws_kms_key" "vectors" {
  count = var.vector_store_enabled ? 1 : 0

  description             = "Encrypts the ${var.name} knowledge vector store"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_key_deletion_window_in_days
  policy                  = jsonencode(local.vector_key_policy)

  tags = merge(var.tags, { Purpose = "knowledge-vectors" })
}

resource "aws_s3vectors_vector_bucket" "this" {
  count = var.vector_store_enabled ? 1 : 0

  vector_bucket_name = var.vector_bucket_name
  encryption_configuration = [{
    sse_type    = "aws:kms"
    kms_key_arn = aws_kms_key.vectors[0].arn
  }]

  tags = var.tags
}

resource "aws_s3vectors_index" "this" {
  for_each = local.vector_indexes

  vector_bucket_name = aws_s3vectors_vector_bucket.this[0].vector_bucket_name
  index_name         = each.value.name
  data_type          = "float32"
  dimension          = each.value.dimensions
  # The embedders return L2-normalised vectors: cosine, as the embedded index scores them.
  distance_metric = "cosine"

  # A chunk's text and offsets ride along for citations, but are never filtered on (filterable metadata is
  # limited to 2 KB a vector); the index version, document and document version stay filterable.
  metadata_configuration {
    non_filterable_metadata_keys = ["text", "start", "end"]
  }

  tags = var.tags
}
