################################################################################
# Vector store (optional)
################################################################################

# For scale: S3 Vectors, one index a knowledge base (README: why S3 Vectors). Off by default; the default store is
# the embedded index file in the artifacts bucket that the service loads like a model. Vectors are encrypted with
# the data key, as the index files are.

resource "aws_s3vectors_vector_bucket" "this" {
  count = var.vector_store_enabled ? 1 : 0

  vector_bucket_name = var.vector_bucket_name
  encryption_configuration = [{
    sse_type    = "aws:kms"
    kms_key_arn = var.data_kms_key_arn
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
