resource "aws_instance" "a" {
  user_data = <<-EOT
    ami-0d4c3b2a1f0e9d8c7
    EOT
  ami = "ami-0a1b2c3d4e5f60718" # ami-0123456789abcdef0
}
