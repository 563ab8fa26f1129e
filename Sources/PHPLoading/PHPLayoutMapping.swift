import CTandemBPF
import PHPLayouts

extension tandem_php_layout {
    /// The walker's struct for `layout`, field for field (bpf/tandem_php.h).
    package init(_ layout: PHPLayout) {
        self.init(
            version: layout.version.packed,
            executor_current_execute_data: layout.executorCurrentExecuteData,
            execute_data_opline: layout.executeDataOpline,
            execute_data_function: layout.executeDataFunction,
            execute_data_this_type_info: layout.executeDataThisTypeInfo,
            execute_data_previous: layout.executeDataPrevious,
            function_type: layout.functionType,
            function_name: layout.functionName,
            function_scope: layout.functionScope,
            op_array_filename: layout.opArrayFileName,
            op_array_line_start: layout.opArrayLineStart,
            class_entry_name: layout.classEntryName,
            string_length: layout.stringLength,
            string_value: layout.stringValue,
            op_line_number: layout.opLineNumber,
            op_array_last: layout.opArrayLast,
            op_array_opcodes: layout.opArrayOpcodes,
            op_size: layout.opSize,
            reserved: 0)
    }
}
