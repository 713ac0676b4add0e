fn main() -> std::process::ExitCode {
    kafka_self_healing::cli::main()
}
