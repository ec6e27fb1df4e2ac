# One instance per state of the registry (fixtures/README.md), for the freshness policy.
resource "aws_instance" "revoked" {
  ami           = "ami-0d4c3b2a1f0e9d8c7" # web-ubuntu v1, revoked
  instance_type = "t3.micro"
}

resource "aws_instance" "behind" {
  ami           = "ami-0a1b2c3d4e5f60718" # web-ubuntu v2, production
  instance_type = "t3.micro"
}

resource "aws_instance" "newest" {
  ami           = "ami-0c9d8e7f6a5b40312" # web-ubuntu v3, latest
  instance_type = "t3.micro"
}

resource "aws_instance" "scheduled" {
  ami           = "ami-0b3c20f2fd2b1e282" # base-al2023 v1, revocation scheduled
  instance_type = "t3.micro"
}

resource "aws_instance" "untracked" {
  ami           = "ami-0123456789abcdef0"
  instance_type = "t3.micro"
}
