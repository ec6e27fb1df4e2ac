image = "ami-0b3c20f2fd2b1e282"
images = ["ami-1f2e3d4c", "ami-0123456789abcdef0"]
gce = "projects/p/global/images/family/debian-12"
