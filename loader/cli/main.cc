// catload: placeholder main until the exec command lands.
int main() { return 2; }
