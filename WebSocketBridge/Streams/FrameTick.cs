namespace WebSocketBridge.Streams;

/// <summary>One beat of the frame pump: every stream's new data, shared by all clients.</summary>
/// <param name="CreatedMs">When the pump took the frames (Unix ms).</param>
public sealed record FrameTick(long CreatedMs, StreamFrame[] Frames);
