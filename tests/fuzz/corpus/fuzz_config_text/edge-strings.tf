a = "x\"ami-0d4c3b2a1f0e9d8c7 # not a comment"
b = "unterminated
c = "\\" # ami-0123456789abcdef0
<<
<<-
<<ID