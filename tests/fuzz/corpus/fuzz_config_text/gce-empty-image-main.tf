# A blank disk: `image = ""` is no image, like leaving it out (data). No finding.
# Written by hand in Terraform's plan format (no google provider offline): see fixtures/README.md.
terraform {
  required_providers { google = { source = "hashicorp/google", version = "6.40.0" } }
}

provider "google" {
  project = "imagegate-test"
  region  = "us-central1"
}

resource "google_compute_disk" "blank" {
  name  = "scratch"
  zone  = "us-central1-a"
  size  = 100
  image = ""
}

resource "google_compute_disk" "data" {
  name = "data"
  zone = "us-central1-a"
  size = 200
}
