terraform {
  # No providers: this module only computes names, so it evaluates offline (tests/terraform relies on that).
  required_version = ">= 1.10"
}
