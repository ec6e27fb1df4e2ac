# An empty image attribute is no image, like null: no finding.
# (A launch template whose image comes from the instance that uses it.)
resource "aws_launch_template" "blank" {
  name_prefix   = "blank-"
  image_id      = ""
  instance_type = "t3.micro"
}

resource "aws_instance" "app" {
  ami           = "ami-0c9d8e7f6a5b40312"
  instance_type = "t3.micro"
  launch_template {
    id = aws_launch_template.blank.id
  }
}
