/* ami-0d4c3b2a1f0e9d8c7
*/ // ami-0a1b2c3d4e5f60718
ami = "ami-0fedcba9876543210"
/* unterminated ami-0e1f2a3b4c5d6e7f8