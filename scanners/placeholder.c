/* placeholder until the module lands */
typedef int ig_scanners_placeholder;
