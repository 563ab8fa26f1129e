/*
 * Prints one PHP's `struct tandem_php_layout` (bpf/tandem_php.h) as a Swift
 * `PHPLayout(...)` expression. Compiled by scripts/php-layouts.sh against the PHP's own
 * development headers (php-config --includes), so every offset is the compiler's.
 *
 * Also checks the constants the walker tests (function types, the call-info bit of a frame
 * that started an executor loop) and the widths of the fields it reads.
 */
#include <php.h>
#include <stddef.h>
#include <stdio.h>

#ifdef ZTS
#error "tandem's PHP walker reads non-thread-safe builds (executor_globals is a plain global there)"
#endif
#if PHP_MAJOR_VERSION != 8
#error "the table describes PHP 8"
#endif

#define CHECK(condition) do { if (!(condition)) { \
    fprintf(stderr, "php-layouts: %s does not hold for this PHP\n", #condition); return 1; } } while (0)
#define WIDTH(type, member) sizeof(((type *)0)->member)

static void field(const char *name, size_t value) {
    printf("            %s: %zu,\n", name, value);
}

int main(void) {
    CHECK(ZEND_INTERNAL_FUNCTION == 1 && ZEND_USER_FUNCTION == 2 && ZEND_EVAL_CODE == 4);
    CHECK(ZEND_CALL_TOP == (1 << 17));
    CHECK(WIDTH(zend_function, type) == 1 && WIDTH(zend_op, lineno) == 4);
    CHECK(WIDTH(zend_op_array, line_start) == 4 && WIDTH(zend_string, len) == 8);
    CHECK(WIDTH(zval, u1.type_info) == 4);
    /* The saved instruction is checked against the function's own instructions. */
    CHECK(WIDTH(zend_op_array, last) == 4 && WIDTH(zend_op_array, opcodes) == 8 && sizeof(zend_op) < 65536);
    /* The walker reads common.* of internal and user functions alike. */
    CHECK(offsetof(zend_function, common.function_name) == offsetof(zend_internal_function, function_name));
    CHECK(offsetof(zend_function, common.scope) == offsetof(zend_internal_function, scope));
    CHECK(offsetof(zend_function, common.function_name) == offsetof(zend_op_array, function_name));

    printf("        // %s (module API %d, %s)\n", PHP_VERSION, ZEND_MODULE_API_NO, "NTS");
    printf("        PHPLayout(\n");
    printf("            version: .init(major: %d, minor: %d),\n", PHP_MAJOR_VERSION, PHP_MINOR_VERSION);
    field("executorCurrentExecuteData", offsetof(zend_executor_globals, current_execute_data));
    field("executeDataOpline", offsetof(zend_execute_data, opline));
    field("executeDataFunction", offsetof(zend_execute_data, func));
    field("executeDataThisTypeInfo", offsetof(zend_execute_data, This) + offsetof(zval, u1.type_info));
    field("executeDataPrevious", offsetof(zend_execute_data, prev_execute_data));
    field("functionType", offsetof(zend_function, type));
    field("functionName", offsetof(zend_function, common.function_name));
    field("functionScope", offsetof(zend_function, common.scope));
    field("opArrayFileName", offsetof(zend_op_array, filename));
    field("opArrayLineStart", offsetof(zend_op_array, line_start));
    field("classEntryName", offsetof(zend_class_entry, name));
    field("stringLength", offsetof(zend_string, len));
    field("stringValue", offsetof(zend_string, val));
    field("opLineNumber", offsetof(zend_op, lineno));
    field("opArrayLast", offsetof(zend_op_array, last));
    field("opArrayOpcodes", offsetof(zend_op_array, opcodes));
    printf("            opSize: %zu\n", sizeof(zend_op));
    printf("        ),\n");
    return 0;
}
