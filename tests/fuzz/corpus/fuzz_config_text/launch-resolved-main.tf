# Images that EC2 resolves from an SSM parameter at launch: nothing names them at plan time.
resource "aws_instance" "web" {
  ami           = "resolve:ssm:/golden/web/ami-id"
  instance_type = "t3.micro"
}

resource "aws_launch_template" "al2023" {
  name_prefix   = "al2023-"
  image_id      = "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64:12"
  instance_type = "t3.small"
}

# a typo stays unrecognized
resource "aws_instance" "typo" {
  ami           = "ami-12345"
  instance_type = "t3.micro"
}
