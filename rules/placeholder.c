/* placeholder until the module lands */
typedef int ig_rules_placeholder;
