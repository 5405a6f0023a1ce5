namespace SignalPipeline.Messages;
